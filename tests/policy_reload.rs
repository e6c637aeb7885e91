//! Replacing the policy while the layer serves: a valid policy takes effect
//! on the next request; an invalid file changes nothing.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_export_control::policy::{DEFAULT_POLICY_TOML, Mode, PolicyHandle};
use tower_export_control::{ExportControlLayer, Policy};

fn cn_p5() -> Request<Empty<Bytes>> {
    Request::get("/v1/instances")
        .header("x-customer-country", "CN")
        .header("x-instance-type", "p5.48xlarge")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn replace_and_reload_take_effect_on_the_next_request() {
    let handle = PolicyHandle::new(Policy::embedded_default());
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
    assert_eq!(handle.current().source(), good.display().to_string());
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
