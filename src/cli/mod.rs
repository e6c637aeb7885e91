//! The `export-control` command-line tool (feature `cli`).
//!
//! ```text
//! export-control explain --country CN --instance-type p5.48xlarge
//! export-control catalog --regime ear-2022-10
//! export-control check policy.toml
//! export-control diff old.toml new.toml [--json]
//! export-control license keygen --out keys/
//! export-control license mint --key keys/KID.key.pem --kid KID --iss URL --sub CUSTOMER --countries CN
//! export-control license verify --config license.toml TOKEN
//! export-control ledger usage --redis redis://127.0.0.1:6379/0 LIC-2026-0042
//! ```
//!
//! - `explain` prints, as JSON, what the policy decides for one request and
//!   why: outcome, reason, deciding rules, accelerator class, country
//!   groups, the license a request needs and, with `--license`, the result
//!   of checking one.
//! - `catalog` lists every chip and instance type with its class.
//! - `check` validates a policy file and prints every problem with its
//!   `file:line:column`, or a one-line summary.
//! - `diff` shows the decisions that change between two policies, grouped
//!   (exit 0 when none change, 1 when some do).
//! - `license` makes an Ed25519 issuer key, mints tokens and verifies them:
//!   a development tool; real tokens come from a licensing system.
//! - `ledger` prints a license's usage or reservations from the Redis
//!   ledger the fleet shares (`--redis`, in builds with the `redis`
//!   feature).
//!
//! Exit status: 0 allowed, valid or verified; 1 denied, license required,
//! invalid policy or rejected token; 2 bad input, with a message on stderr.
//!
//! The `export-control` binary is [`run`] over its arguments; the
//! `explain` and `license` examples call it too.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod catalog;
mod check;
mod diff;
mod engine;
mod explain;
mod ledger;
mod license;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};

use crate::CountryCode;

/// Runs the tool on `args`, the first being the program name (as with
/// [`std::env::args_os`]), and returns the exit status. Writes to stdout
/// and stderr; never exits the process itself.
///
/// ```no_run
/// let status = tower_export_control::cli::run(["export-control", "check", "policy.toml"]);
/// # let _ = status;
/// ```
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are printed to stdout and exit 0; usage
            // errors to stderr with status 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let (name, result) = match cli.command {
        Command::Explain(args) => ("explain", explain::run(&args)),
        Command::Catalog(args) => ("catalog", catalog::run(&args)),
        Command::Check(args) => ("check", check::run(&args)),
        Command::Diff(args) => ("diff", diff::run(&args)),
        Command::License(command) => (command.name(), license::run(command)),
        Command::Ledger(command) => (command.name(), ledger::run(command)),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            error(&format!("{name}: {message}"));
            ExitCode::from(2)
        }
    }
}

/// Decide export-control questions from a policy file, from the command line.
#[derive(Debug, Parser)]
#[command(name = "export-control", version)]
#[command(
    after_help = "Exit status: 0 allowed, valid or verified; 1 denied, license required, \
invalid policy or rejected token; 2 bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain, as JSON, what the policy decides for one request and why.
    Explain(explain::Args),
    /// List every chip and instance type with its accelerator class.
    Catalog(catalog::Args),
    /// Validate a policy file and print every problem in it.
    Check(check::Args),
    /// Show the decisions that change between two policy files.
    Diff(diff::Args),
    /// Make issuer keys, mint and verify license tokens (development only).
    #[command(subcommand)]
    License(license::Command),
    /// Show a license's usage and reservations from the Redis ledger (needs the `redis` feature)
    #[command(subcommand)]
    Ledger(ledger::Command),
}

/// What a subcommand returns: `Ok(true)` exits 0, `Ok(false)` exits 1,
/// `Err` is bad input and exits 2 with the message.
type Outcome = Result<bool, String>;

/// Writes `text` to stdout. A closed pipe (`… | head`) is not an error.
fn print(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Writes `export-control SUBCOMMAND: message` to stderr, on one line.
fn error(message: &str) {
    let line = format!("export-control {}\n", message.replace('\n', " "));
    // Nowhere left to report a failure to write to stderr.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A `--country`-style argument.
fn country(text: &str) -> Result<CountryCode, String> {
    CountryCode::parse(text.trim()).map_err(|e| e.to_string())
}

/// An RFC 3339 time such as `2026-08-01T00:00:00Z`.
fn rfc3339(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text).map_err(|e| format!("not an RFC 3339 time: {e}"))
}
