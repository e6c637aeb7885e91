//! A development tool for export-license tokens: make an issuer key, mint
//! tokens with it, and verify tokens against a license configuration. It
//! is `export-control license` (the `cli` feature's tool) under its former
//! name.
//!
//! This is for development and tests only. Real license tokens come from the
//! provider's licensing system, whose private keys never leave it.
//!
//! ```text
//! cargo run --example license -- keygen --out DIR [--kid KID] [--name NAME]
//! cargo run --example license -- mint --key FILE --kid KID --iss URL --sub CUSTOMER
//!     --countries CN,MO [--classes 3A090.a] [--instance-types a,b]
//!     [--max-accelerators N] [--jti ID] [--valid-for 30d] [--aud A]
//!     [--not-before RFC3339] [--at RFC3339]
//! cargo run --example license -- verify --config FILE [--at RFC3339] TOKEN
//! ```
//!
//! The same as `cargo run --features cli --bin export-control -- license …`;
//! `--help` describes every flag.

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let head = ["export-control", "license"].map(OsString::from);
    tower_export_control::cli::run(head.into_iter().chain(std::env::args_os().skip(1)))
}
