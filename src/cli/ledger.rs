//! `export-control ledger`: what a license has in use in the Redis ledger
//! the fleet shares, and its reservations.
//!
//! Only a Redis ledger can be read from here: a memory ledger lives inside
//! the serving process. The `--redis` option exists when the tool is built
//! with the `redis` feature.

use crate::ledger::{Ledger, Reservation, Usage};

const ABOUT_REDIS: &str = "Reads the Redis ledger shared by the fleet (`[ledger] backend = \
\"redis\"`). The --redis option exists only when export-control is built with the `redis` \
feature (cargo build --features cli,redis); a memory ledger lives inside the serving process \
and cannot be read from here.";

#[derive(Debug, clap::Subcommand)]
pub(super) enum Command {
    /// Print, as JSON, the accelerators a license has in use (active and pending)
    #[command(after_help = ABOUT_REDIS)]
    Usage(Args),
    /// Print, as JSON, a license's reservations (id, customer, instance type, state)
    #[command(after_help = ABOUT_REDIS)]
    Reservations(Args),
}

impl Command {
    /// How error messages name it.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Usage(_) => "ledger usage",
            Self::Reservations(_) => "ledger reservations",
        }
    }
}

/// Which license, and where its ledger is.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The license number (the token's `jti`)
    jti: String,
    /// The Redis ledger's URL, e.g. redis://127.0.0.1:6379/0 (only in builds
    /// with the `redis` feature)
    #[cfg(feature = "redis")]
    #[arg(long, value_name = "URL")]
    redis: String,
    /// The ledger's key prefix (`[ledger] key_prefix`)
    #[arg(long, value_name = "PREFIX", default_value = "export-ledger")]
    key_prefix: String,
    /// The longest the ledger may take to answer, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    timeout_ms: u64,
}

pub(super) fn run(command: Command) -> super::Outcome {
    let json = match command {
        Command::Usage(args) => {
            let usage: Usage = read(&args, |ledger, jti| ledger.usage(jti))?;
            serde_json::json!({
                "license": args.jti,
                "active": usage.active,
                "pending": usage.pending,
                "in_use": usage.in_use(),
            })
        }
        Command::Reservations(args) => {
            let all: Vec<Reservation> = read(&args, |ledger, jti| ledger.reservations(jti))?;
            serde_json::json!({ "license": args.jti, "reservations": all })
        }
    };
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    super::print(&format!("{text}\n"))?;
    Ok(true)
}

/// Connects to the ledger `args` name and makes one call.
#[cfg(feature = "redis")]
fn read<T>(
    args: &Args,
    call: impl for<'a> FnOnce(&'a dyn Ledger, &'a str) -> crate::ledger::LedgerFuture<'a, T>,
) -> Result<T, String> {
    use crate::ledger::{LedgerConfig, RedisLedger};

    let mut config = LedgerConfig::redis(args.redis.as_str());
    config.key_prefix.clone_from(&args.key_prefix);
    config.timeout_ms = args.timeout_ms;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start an I/O runtime: {e}"))?;
    runtime.block_on(async {
        let ledger = RedisLedger::connect(&config)
            .await
            .map_err(|e| format!("{e} ({})", redacted(&args.redis)))?;
        call(&ledger, &args.jti).await.map_err(|e| e.to_string())
    })
}

/// Without the `redis` feature there is no ledger to read.
#[cfg(not(feature = "redis"))]
fn read<T>(
    _args: &Args,
    _call: impl for<'a> FnOnce(&'a dyn Ledger, &'a str) -> crate::ledger::LedgerFuture<'a, T>,
) -> Result<T, String> {
    Err(
        "this export-control was built without the `redis` feature, so it cannot read a \
         Redis ledger: build it with --features cli,redis (a memory ledger lives inside the \
         serving process)"
            .to_owned(),
    )
}

/// The URL without a password, for an error message.
#[cfg(feature = "redis")]
fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_owned(),
    }
}
