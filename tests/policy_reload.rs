//! Replacing the policy while the layer serves: a valid policy takes effect
//! on the next request; an invalid file changes nothing; what lives while
//! serving (run-time revocations, the IP table, the token cache) is kept,
//! and cached tokens of issuers a reload removes are dropped.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod layer_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use layer_support::{CN_PEER, LICENSED_CUSTOMER, ip_table, license};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_export_control::policy::{DEFAULT_POLICY_TOML, Mode};
use tower_export_control::{
    ClientAddr, CountryCode, ExportControlLayer, Facts, Gate, Outcome, Policy, ReasonCode,
};

fn cn_p5() -> Request<Empty<Bytes>> {
    Request::get("/v1/instances")
        .header("x-customer-country", "CN")
        .header("x-instance-type", "p5.48xlarge")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn replace_and_reload_take_effect_on_the_next_request() {
    let handle = Gate::new(Policy::embedded_default());
    let mut svc = ServiceBuilder::new()
        .layer(ExportControlLayer::new(handle.clone()))
        .service_fn(|_req: Request<_>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });

    let status = |res: Response<_>| res.status();
    let res = svc.ready().await.unwrap().call(cn_p5()).await.unwrap();
    assert_eq!(status(res), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);

    let old = handle.replace(Policy::embedded_default().with_mode(Mode::ReportOnly));
    assert_eq!(old.mode(), Mode::Enforce);
    let res = svc.ready().await.unwrap().call(cn_p5()).await.unwrap();
    assert_eq!(status(res), StatusCode::OK);

    let dir = std::env::temp_dir().join(format!("tec-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[policy]\nname = 1\n").unwrap();
    let err = handle.reload_from_path(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.toml"), "{err}");
    // The last good policy (report-only) keeps serving.
    let res = svc.ready().await.unwrap().call(cn_p5()).await.unwrap();
    assert_eq!(status(res), StatusCode::OK);

    let good = dir.join("good.toml");
    std::fs::write(&good, DEFAULT_POLICY_TOML).unwrap();
    handle.reload_from_path(&good).unwrap();
    let res = svc.ready().await.unwrap().call(cn_p5()).await.unwrap();
    assert_eq!(status(res), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(handle.policy().source(), good.display().to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A rule with effective dates follows the layer's clock.
#[tokio::test]
async fn dated_rules_follow_the_layers_clock() {
    let text = DEFAULT_POLICY_TOML.replace(
        "id = \"3a090-destination\"",
        "id = \"3a090-destination\"\neffective_until = \"2030-01-01\"",
    );
    let policy = std::sync::Arc::new(Policy::from_toml(&text, "dated.toml", None).unwrap());
    assert!(policy.has_dated_rules());
    let call = |clock: fn() -> std::time::SystemTime| {
        let svc = ServiceBuilder::new()
            .layer(ExportControlLayer::new(policy.clone()).with_clock(clock))
            .service_fn(|_req: Request<_>| async {
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            });
        svc.oneshot(cn_p5())
    };
    let before =
        || std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let after =
        || std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_900_000_000);
    assert_eq!(
        call(before).await.unwrap().status(),
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
    assert_eq!(call(after).await.unwrap().status(), StatusCode::OK);
    assert!(!Policy::embedded_default().has_dated_rules());
}

/// A directory of its own for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tec-reload-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn demo_issuer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer")
}

/// The default policy trusting the demo issuer, written to `dir`; `extra`
/// is appended inside the `[license]` table.
fn policy_with_demo_issuer(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let jwks = demo_issuer_dir().join("demo-issuer.jwks.json");
    let text = format!(
        "{DEFAULT_POLICY_TOML}\n[license]\n{extra}\n[[license.issuers]]\n\
         issuer = \"https://demo-licensing.invalid\"\njwks_file = {:?}\n",
        jwks.display().to_string()
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The default policy trusting no issuer.
fn policy_without_issuers(dir: &Path) -> PathBuf {
    let path = dir.join("no-issuers.toml");
    std::fs::write(&path, DEFAULT_POLICY_TOML).unwrap();
    path
}

fn cn_facts() -> Facts<'static> {
    Facts::new()
        .with_declared_country(CountryCode::parse("CN").unwrap())
        .with_instance_type("p5.48xlarge")
        .with_customer_id(LICENSED_CUSTOMER)
}

#[test]
fn a_revocation_made_while_serving_survives_reloads() {
    let dir = scratch("revocation");
    let file = policy_with_demo_issuer(&dir, "policy.toml", "");
    let gate = Gate::new(Policy::from_path(&file).unwrap());
    let token = license("LIC-RELOAD-0001");
    let now = SystemTime::now();
    let verdict = gate.evaluate(&cn_facts(), Some(&token), now);
    assert_eq!(verdict.outcome(), Outcome::AllowLicensed, "{verdict:?}");

    gate.revoke("LIC-RELOAD-0001");
    let verdict = gate.evaluate(&cn_facts(), Some(&token), now);
    assert_eq!(verdict.reason(), Some(ReasonCode::LicenseRevoked));

    // A routine reload of the same file, and of one with its own list.
    gate.reload_from_path(&file).unwrap();
    let verdict = gate.evaluate(&cn_facts(), Some(&token), now);
    assert_eq!(verdict.outcome(), Outcome::Deny);
    assert_eq!(verdict.reason(), Some(ReasonCode::LicenseRevoked));
    let other = policy_with_demo_issuer(&dir, "other.toml", "revoked = [\"LIC-OTHER\"]");
    gate.reload_from_path(&other).unwrap();
    let verdict = gate.evaluate(&cn_facts(), Some(&token), now);
    assert_eq!(verdict.reason(), Some(ReasonCode::LicenseRevoked));
    // Another license of the same issuer still works.
    let fresh = license("LIC-RELOAD-0002");
    let verdict = gate.evaluate(&cn_facts(), Some(&fresh), now);
    assert_eq!(verdict.outcome(), Outcome::AllowLicensed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reload_that_removes_an_issuer_drops_its_cached_tokens() {
    let dir = scratch("issuers");
    let with = policy_with_demo_issuer(&dir, "with.toml", "");
    let without = policy_without_issuers(&dir);
    let gate = Gate::new(Policy::from_path(&with).unwrap());
    let token = license("LIC-RELOAD-0003");
    let now = SystemTime::now();
    assert_eq!(
        gate.evaluate(&cn_facts(), Some(&token), now).outcome(),
        Outcome::AllowLicensed
    );
    assert_eq!(
        gate.license_verifier().cache_len(),
        1,
        "the token is cached"
    );

    gate.reload_from_path(&without).unwrap();
    let verdict = gate.evaluate(&cn_facts(), Some(&token), now);
    assert_eq!(verdict.outcome(), Outcome::Deny);
    assert_eq!(verdict.reason(), Some(ReasonCode::LicenseInvalid));
    assert_eq!(
        gate.license_verifier().cache_len(),
        0,
        "the entry is dropped"
    );

    // A changed audience is a changed trust too.
    gate.reload_from_path(&with).unwrap();
    assert_eq!(
        gate.evaluate(&cn_facts(), Some(&token), now).outcome(),
        Outcome::AllowLicensed
    );
    let audience = policy_with_demo_issuer(&dir, "audience.toml", "audience = \"elsewhere\"");
    gate.reload_from_path(&audience).unwrap();
    let verdict = gate.evaluate(&cn_facts(), Some(&token), now);
    assert_eq!(verdict.reason(), Some(ReasonCode::LicenseInvalid));

    // An unchanged issuer keeps its cached tokens across a reload.
    gate.reload_from_path(&with).unwrap();
    gate.evaluate(&cn_facts(), Some(&token), now);
    gate.reload_from_path(&with).unwrap();
    assert_eq!(gate.license_verifier().cache_len(), 1);
    assert_eq!(
        gate.evaluate(&cn_facts(), Some(&token), now).outcome(),
        Outcome::AllowLicensed
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A request from a Chinese address with no declared country: only the IP
/// table places it.
fn from_cn_peer() -> Request<Empty<Bytes>> {
    let mut req = Request::get("/v1/instances")
        .header("x-instance-type", "p5.48xlarge")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(ClientAddr(SocketAddr::new(CN_PEER, 40_000)));
    req
}

#[tokio::test]
async fn an_ip_table_set_on_the_gate_survives_reloads() {
    let dir = scratch("ip-table");
    let file = policy_without_issuers(&dir);
    let gate = Gate::new(Policy::from_path(&file).unwrap()).with_ip_table(ip_table());
    let mut svc = ServiceBuilder::new()
        .layer(ExportControlLayer::new(gate.clone()))
        .service_fn(|_req: Request<_>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    let denied = |res: &Response<_>| {
        let denial = res.extensions().get::<tower_export_control::Denial>();
        (res.status(), denial.map(|d| d.reason()))
    };
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(from_cn_peer())
        .await
        .unwrap();
    let expected = (
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        Some(ReasonCode::LicenseRequired),
    );
    assert_eq!(denied(&res), expected);
    let network = res
        .extensions()
        .get::<tower_export_control::Denial>()
        .and_then(|d| d.verdict().network_country());
    assert_eq!(network, CountryCode::parse("CN").ok());

    gate.reload_from_path(&file).unwrap();
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(from_cn_peer())
        .await
        .unwrap();
    assert_eq!(
        denied(&res),
        expected,
        "the network-country rule still fires"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
