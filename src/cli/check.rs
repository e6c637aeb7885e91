//! `export-control check`: validate a policy file.

use crate::PolicyError;
use std::path::PathBuf;

use super::engine;

/// Loads and validates a policy file as a service would (including the
/// key, revocation and IP-table files it names) and prints every problem,
/// one a line as `file:line:column: entry: field: problem`. A valid policy
/// gets a one-line summary: name, regime, digest, and the number of rules,
/// country groups, chips and instance types.
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit status: 0 valid, 1 invalid or unreadable.")]
pub(super) struct Args {
    /// The policy file (TOML), e.g. policies/default.toml
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
}

pub(super) fn run(args: &Args) -> super::Outcome {
    match engine::read_policy(&args.policy) {
        Ok(policy) => {
            let catalog = policy.catalog();
            super::print(&format!(
                "{}: ok: policy `{}` ({}), {}, {} rules, {} country groups, {} chips, {} instance types\n",
                args.policy.display(),
                policy.name(),
                policy.regime().name(),
                policy.digest(),
                policy.rules().len(),
                policy.country_groups().all_names().count(),
                catalog.chips().len(),
                catalog.instance_types().len(),
            ))?;
            Ok(true)
        }
        Err(e) => {
            super::print(&diagnostics(&e))?;
            Ok(false)
        }
    }
}

/// One diagnostic a line (`file:line:col: entry: `field`: problem`), or
/// the error itself when it points into no file (an unreadable one).
fn diagnostics(e: &PolicyError) -> String {
    let found = e.diagnostics();
    if found.is_empty() {
        return format!("{e}\n");
    }
    found.iter().map(|d| format!("{d}\n")).collect()
}
