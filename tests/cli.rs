//! The `export-control` binary, run as a user runs it: exit codes, JSON and
//! text output of every subcommand, and `--help` on each.

// Helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_export-control");
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo-issuer");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// `explain` with `args`: its exit code and JSON.
fn explain(args: &[&str]) -> (i32, Value) {
    let out = run(&[&["explain"], args].concat());
    let json = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (code(&out), json)
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("export-control-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn explain_allows_with_exit_0() {
    let (code, json) = explain(&["--country", "US", "--instance-type", "p5.48xlarge"]);
    assert_eq!(code, 0);
    assert_eq!(json["decision"], "allow");
    assert_eq!(json["reason"], Value::Null);
    assert_eq!(json["accelerator"]["class"], "3A090.a");
    assert_eq!(json["accelerator"]["chip"], "H100-SXM");
    assert_eq!(json["policy"]["name"], "ear-3a090-default");
}

#[test]
fn explain_names_the_ultimate_parent() {
    let args = [
        "--country",
        "DE",
        "--parent",
        "CN",
        "--instance-type",
        "p5.48xlarge",
    ];
    let (code, json) = explain(&args);
    assert_eq!(code, 1);
    assert_eq!(json["decision"], "require-license");
    assert_eq!(json["rules"][0], "3a090-headquarters");
    assert_eq!(json["jurisdiction"]["parent"]["country"], "CN");
    assert_eq!(
        json["license_requirement"]["countries"],
        serde_json::json!(["CN"])
    );
    let (code, json) = explain(&[
        "--country",
        "US",
        "--parent",
        "CN",
        "--instance-type",
        "p5.48xlarge",
    ]);
    assert_eq!(code, 0, "located in the United States");
    assert_eq!(json["decision"], "allow");
}

#[test]
fn explain_requires_a_license_with_exit_1() {
    let (code, json) = explain(&[
        "--country",
        "CN",
        "--instance-type",
        "p5.48xlarge",
        "--count",
        "2",
    ]);
    assert_eq!(code, 1);
    assert_eq!(json["decision"], "require-license");
    assert_eq!(json["reason"], "license_required");
    assert_eq!(json["rules"][0], "3a090-destination");
    assert_eq!(json["license_requirement"]["countries"][0], "CN");
    assert_eq!(json["license_requirement"]["accelerators"], 16);
    assert_eq!(json["jurisdiction"]["declared"]["groups"][0], "D:1");
}

#[test]
fn explain_denies_with_exit_1() {
    let (code, json) = explain(&["--country", "IR", "--instance-type", "p5.48xlarge"]);
    assert_eq!(code, 1);
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["reason"], "embargoed");
    assert_eq!(json["rules"][0], "embargo-e1-e2");
}

#[test]
fn explain_looks_the_ip_address_up() {
    // 1.0.1.1 is in China in the committed excerpt.
    let (code, json) = explain(&[
        "--country",
        "US",
        "--ip",
        "1.0.1.1",
        "--ip-table",
        "tests/data/ip-excerpt.csv",
        "--instance-type",
        "p5.48xlarge",
    ]);
    let network = &json["jurisdiction"]["network"]["country"];
    assert_eq!(code, if network == "CN" { 1 } else { 0 }, "{json}");
    assert_eq!(json["jurisdiction"]["network_ip"], "1.0.1.1");
}

/// A demo-issuer token for `acme-cn` in CN, valid for 30 days from
/// 2026-08-01.
fn demo_token() -> String {
    let out = run(&[
        "license",
        "mint",
        "--key",
        &format!("{DEMO}/demo-issuer.key.pem"),
        "--kid",
        "demo-2026",
        "--iss",
        "https://demo-licensing.invalid",
        "--sub",
        "acme-cn",
        "--countries",
        "CN",
        "--valid-for",
        "30d",
        "--at",
        "2026-08-01T00:00:00Z",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn explain_with_a_license() {
    let token = demo_token();
    let licensed = |customer: &str, at: &str| {
        explain(&[
            "--country",
            "CN",
            "--instance-type",
            "p5.48xlarge",
            "--customer",
            customer,
            "--license",
            &token,
            "--at",
            at,
        ])
    };

    let (code, json) = licensed("acme-cn", "2026-08-02T00:00:00Z");
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["decision"], "allow-licensed");
    assert_eq!(json["license"]["result"], "allow-licensed");
    assert_eq!(json["license"]["issuer"], "https://demo-licensing.invalid");

    let (code, json) = licensed("someone-else", "2026-08-02T00:00:00Z");
    assert_eq!(code, 1);
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["reason"], "license_wrong_customer");

    let (code, json) = licensed("acme-cn", "2026-10-01T00:00:00Z");
    assert_eq!(code, 1);
    assert_eq!(json["reason"], "license_expired");
}

#[test]
fn explain_rejects_bad_input_with_exit_2() {
    for args in [
        &["--country", "XX", "--instance-type", "p5.48xlarge"][..],
        &["--country", "CN"],
        &["--instance-type", "p5.48xlarge", "--count", "0"],
        &["--instance-type", "p5.48xlarge", "--ip", "1.2.3"],
        &["--instance-type", "p5.48xlarge", "--at", "yesterday"],
        &["--instance-type", "p5.48xlarge", "--license", "token"],
        &[
            "--instance-type",
            "p5.48xlarge",
            "--policy",
            "no-such-policy.toml",
        ],
        &["--instance-type", "p5.48xlarge", "--frobnicate"],
    ] {
        let out = run(&[&["explain"], args].concat());
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!stderr(&out).trim().is_empty(), "{args:?}");
    }
}

#[test]
fn catalog_lists_chips_and_instance_types() {
    let out = run(&["catalog"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.starts_with("Chips under ear-2023-10"), "{text}");
    let p5 = text
        .lines()
        .find(|l| l.starts_with("p5.48xlarge "))
        .unwrap();
    let fields: Vec<_> = p5.split_whitespace().collect();
    assert_eq!(fields, ["p5.48xlarge", "H100-SXM", "8", "3A090.a"]);

    let out = run(&["catalog", "--regime", "ear-2022-10"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).starts_with("Chips under ear-2022-10"));

    let out = run(&["catalog", "--regime", "ear-1999"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("ear-2023-10, ear-2022-10"));
}

#[test]
fn check_accepts_the_default_policy() {
    let out = run(&["check", "policies/default.toml"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    for piece in [
        "policies/default.toml: ok",
        "`ear-3a090-default`",
        "sha256:",
        "3 rules",
        "29 chips",
        "73 instance types",
    ] {
        assert!(text.contains(piece), "{piece} in {text}");
    }
}

/// Three independent mistakes, and where each one is.
const THREE_MISTAKES: &str = r#"[policy]
name = "three-mistakes"
country_lists_as_of = "2026-07-08"

[country_groups]
G = ["CN", "XK"]

[[rules]]
id = "r"
groups = ["Nope"]
action = "deny"

[[chips]]
name = "X"
datacenter = true
dense_tops = { 8 = 1000 }

[[instance_types]]
name = "x.large"
chip = "Y"
chips = 8
"#;

#[test]
fn check_prints_each_problem_with_its_place() {
    let dir = TempDir::new("check");
    let file = dir.path("policy.toml");
    std::fs::write(&file, THREE_MISTAKES).unwrap();
    let out = run(&["check", text(&file)]);
    assert_eq!(code(&out), 1);
    let printed = stdout(&out);
    let lines: Vec<_> = printed.lines().collect();
    assert!(!lines.is_empty(), "{}", stderr(&out));
    // Each line is one diagnostic: `file:line:column: …`.
    let places: Vec<(usize, usize)> = lines
        .iter()
        .map(|line| {
            let rest = line
                .strip_prefix(&format!("{}:", file.display()))
                .unwrap_or_else(|| panic!("no file in {line}"));
            let mut parts = rest.splitn(3, ':');
            let line_no = parts.next().unwrap().parse().unwrap();
            let column = parts.next().unwrap().parse().unwrap();
            (line_no, column)
        })
        .collect();
    let expected = [(6, 12), (10, 11), (20, 8)];
    for place in &places {
        assert!(expected.contains(place), "{place:?} in {printed}");
    }
    assert_eq!(places, expected, "every problem, in file order");
}

#[test]
fn check_reports_a_missing_file() {
    let out = run(&["check", "no-such-policy.toml"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).starts_with("no-such-policy.toml: "));
    assert_eq!(code(&run(&["check"])), 2);
}

#[test]
fn license_keygen_mint_verify_round_trip() {
    let dir = TempDir::new("license");
    let keys = dir.path("keys");
    let out = run(&["license", "keygen", "--out", text(&keys), "--kid", "k1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("kid k1: wrote "));
    for file in ["k1.key.pem", "k1.pub.pem", "k1.jwks.json"] {
        assert!(keys.join(file).is_file(), "{file}");
    }
    // Never overwrites a key.
    let again = run(&["license", "keygen", "--out", text(&keys), "--kid", "k1"]);
    assert_eq!(code(&again), 2);

    let config = dir.path("license.toml");
    std::fs::write(
        &config,
        "[license]\n\n[[license.issuers]]\nissuer = \"https://issuer.test\"\njwks_file = \"keys/k1.jwks.json\"\n",
    )
    .unwrap();
    let out = run(&[
        "license",
        "mint",
        "--key",
        text(&keys.join("k1.key.pem")),
        "--kid",
        "k1",
        "--iss",
        "https://issuer.test",
        "--sub",
        "acme-cn",
        "--countries",
        "CN,MO",
        "--classes",
        "3A090.a",
        "--max-accelerators",
        "64",
        "--jti",
        "LIC-7",
        "--valid-for",
        "1d",
        "--at",
        "2026-08-01T00:00:00Z",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    let verify = |at: &str| {
        run(&[
            "license",
            "verify",
            "--config",
            text(&config),
            "--at",
            at,
            &token,
        ])
    };
    let out = verify("2026-08-01T12:00:00Z");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let claims: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(claims["sub"], "acme-cn");
    assert_eq!(claims["jti"], "LIC-7");
    assert_eq!(claims["countries"], serde_json::json!(["CN", "MO"]));
    assert_eq!(claims["max_accelerators"], 64);

    let out = verify("2026-08-03T00:00:00Z");
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("license_expired"), "{}", stderr(&out));

    // A key the configuration does not trust.
    let out = run(&[
        "license",
        "verify",
        "--config",
        &format!("{DEMO}/license.toml"),
        &token,
    ]);
    assert_eq!(code(&out), 1);
}

#[test]
fn help_works_on_every_subcommand() {
    for command in [
        &[][..],
        &["explain"],
        &["catalog"],
        &["check"],
        &["license"],
        &["license", "keygen"],
        &["license", "mint"],
        &["license", "verify"],
        &["ledger"],
        &["ledger", "usage"],
        &["ledger", "reservations"],
    ] {
        let out = run(&[command, &["--help"]].concat());
        assert_eq!(code(&out), 0, "{command:?}");
        let text = stdout(&out);
        let usage = format!(
            "Usage: {}",
            ["export-control"]
                .iter()
                .chain(command)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(text.contains(&usage), "{command:?}: {text}");
        assert!(text.lines().count() > 5, "{command:?}: {text}");
    }
}

#[test]
fn ledger_help_says_redis_needs_the_feature() {
    for command in ["usage", "reservations"] {
        let out = run(&["ledger", command, "--help"]);
        assert_eq!(code(&out), 0);
        let text = stdout(&out);
        assert!(text.contains("`redis` feature"), "{text}");
        assert_eq!(
            text.contains("--redis <URL>"),
            cfg!(feature = "redis"),
            "{text}"
        );
    }
}

#[cfg(not(feature = "redis"))]
#[test]
fn ledger_without_the_redis_feature_says_how_to_get_it() {
    let out = run(&["ledger", "usage", "LIC-1"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--features cli,redis"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[cfg(feature = "redis")]
#[path = "redis_support/mod.rs"]
mod redis_support;

/// `ledger usage` and `ledger reservations` against a real `redis-server`
/// holding what a `RedisLedger` reserved.
#[cfg(feature = "redis")]
#[test]
fn ledger_reads_usage_and_reservations_from_redis() {
    use tower_export_control::ledger::{
        Ledger, LedgerConfig, RedisLedger, ReservationId, ReservationRequest, Reserved,
    };

    let server = redis_support::RedisServer::start();
    let mut config = LedgerConfig::redis(server.url());
    config.key_prefix = "cli-test".to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ledger = RedisLedger::connect(&config).await.unwrap();
        for (rid, confirm) in [("acme-cn/a", true), ("acme-cn/b", false)] {
            let id = ReservationId::new(rid).unwrap();
            let req = ReservationRequest::new(id.clone(), "LIC-7", "acme-cn", "p5.48xlarge", 8, 64);
            assert!(matches!(
                ledger.reserve(req).await.unwrap(),
                Reserved::Granted(_)
            ));
            if confirm {
                assert!(ledger.confirm("LIC-7", &id).await.unwrap());
            }
        }
    });
    let url = server.url();
    let json = |args: &[&str]| -> Value {
        let out = run(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };

    let usage = json(&[
        "ledger",
        "usage",
        "--redis",
        &url,
        "--key-prefix",
        "cli-test",
        "LIC-7",
    ]);
    assert_eq!(usage["license"], "LIC-7");
    assert_eq!(
        (usage["active"].clone(), usage["pending"].clone()),
        (8.into(), 8.into())
    );
    assert_eq!(usage["in_use"], 16);

    let listed = json(&[
        "ledger",
        "reservations",
        "--redis",
        &url,
        "--key-prefix",
        "cli-test",
        "LIC-7",
    ]);
    let all = listed["reservations"].as_array().unwrap();
    let seen: Vec<(&str, &str, u64)> = all
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
                r["accelerators"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("acme-cn/a", "active", 8), ("acme-cn/b", "pending", 8)]
    );
    assert!(
        all.iter()
            .all(|r| r["customer"] == "acme-cn" && r["license"] == "LIC-7")
    );

    // Another prefix is another ledger: nothing in use.
    let other = json(&["ledger", "usage", "--redis", &url, "LIC-7"]);
    assert_eq!(other["in_use"], 0);

    // No server there: exit 2 and a message, nothing on stdout.
    let port = server.port();
    drop(server);
    let down = format!("redis://127.0.0.1:{port}/0");
    let out = run(&[
        "ledger",
        "usage",
        "--redis",
        &down,
        "--timeout-ms",
        "300",
        "LIC-7",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).starts_with("export-control ledger usage: "),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}
