//! The command-line view of the decision engine: `export-control explain`
//! and `export-control catalog` (the `cli` feature's tool) under their
//! former names.
//!
//! ```text
//! cargo run --example explain -- [--policy FILE] [--ip-table FILE]... [--country CC]
//!     [--headquarters CC] [--ip ADDR] --instance-type T [--count N]
//!     [--customer ID --license TOKEN] [--at RFC3339]
//! cargo run --example explain -- catalog [--policy FILE] [--regime NAME]
//! ```
//!
//! The same as `cargo run --features cli --bin export-control -- explain …`
//! and `… -- catalog …`; `--help` describes every flag.

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let command = if args.peek().is_some_and(|a| a == "catalog") {
        args.next();
        "catalog"
    } else {
        "explain"
    };
    let head = ["export-control", command].map(OsString::from);
    tower_export_control::cli::run(head.into_iter().chain(args))
}
