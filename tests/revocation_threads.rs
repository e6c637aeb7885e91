//! The background threads that keep `revoked_file` (and, with the
//! `remote-jwks` feature, `jwks_url`) current are run-time state of a gate:
//! shared by reloads naming the same source, stopped when a reload drops
//! the source or the last clone of the gate is dropped. Alone in its test
//! binary: it counts the process's refresh threads.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tower_export_control::license::refresh_threads;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{Gate, Policy};

/// Waits (up to 10 s) until `condition` holds.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "not within 10 s: {what}; {} threads running",
        refresh_threads()
    );
}

#[test]
fn refresh_threads_live_as_long_as_the_gate_that_uses_them() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("revocation-threads");
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("revoked.txt");
    std::fs::write(&list, "LIC-OLD\n").unwrap();
    let path = dir.join("policy.toml");
    let mut license = format!("revoked_file = \"{}\"\n", list.display());
    let mut sources = 1;
    // A loopback URL nothing listens on: fetches fail, the thread runs.
    if cfg!(feature = "remote-jwks") {
        license.push_str(
            "\n[[license.issuers]]\nissuer = \"https://licensing.example\"\njwks_url = \"http://127.0.0.1:9/jwks.json\"\n",
        );
        sources += 1;
    }
    std::fs::write(
        &path,
        format!("{DEFAULT_POLICY_TOML}\n[license]\n{license}"),
    )
    .unwrap();
    assert_eq!(refresh_threads(), 0);

    let gate = Gate::new(Policy::from_path(&path).unwrap());
    let clone = gate.clone();
    assert_eq!(refresh_threads(), sources);
    for _ in 0..10 {
        gate.reload_from_path(&path).unwrap();
    }
    assert_eq!(refresh_threads(), sources, "reloads share the threads");

    drop(gate);
    assert_eq!(refresh_threads(), sources, "a clone still uses them");
    drop(clone);
    eventually("every thread stops with the last gate", || {
        refresh_threads() == 0
    });

    // A reload that no longer names the sources stops their threads.
    let gate = Gate::new(Policy::from_path(&path).unwrap());
    assert_eq!(refresh_threads(), sources);
    gate.replace(Policy::embedded_default());
    eventually("dropped sources stop", || refresh_threads() == 0);
}
