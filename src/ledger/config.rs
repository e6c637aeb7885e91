//! The `[ledger]` section of a policy file.

use std::time::Duration;

use serde::Deserialize;

/// Which ledger counts license quantities, and how to reach it.
///
/// ```toml
/// [ledger]
/// backend = "redis"                 # or "memory" (one replica only)
/// url = "redis://10.0.0.5:6379/0"   # redis only
/// key_prefix = "export-ledger"      # redis only
/// pending_ttl_seconds = 300
/// timeout_ms = 50                   # redis only: every call
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LedgerConfig {
    /// `memory` or `redis`.
    pub backend: LedgerBackend,
    /// The Redis URL (`redis://` or `rediss://`), for `redis`.
    #[serde(default)]
    pub url: Option<String>,
    /// Prefix of every Redis key (default `export-ledger`).
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// How long a reservation stays pending (default 300 seconds).
    #[serde(default = "default_pending_ttl_seconds")]
    pub pending_ttl_seconds: u64,
    /// The longest a Redis call may take (default 50 ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Where reservations are kept.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LedgerBackend {
    /// In this process ([`MemoryLedger`](super::MemoryLedger)).
    Memory,
    /// A Redis server or cluster shared by every replica (`RedisLedger`,
    /// with the `redis` feature).
    Redis,
}

impl LedgerConfig {
    /// An in-process ledger with the defaults.
    pub fn memory() -> Self {
        Self {
            backend: LedgerBackend::Memory,
            url: None,
            key_prefix: default_key_prefix(),
            pending_ttl_seconds: default_pending_ttl_seconds(),
            timeout_ms: default_timeout_ms(),
        }
    }

    /// A Redis ledger at `url` with the defaults.
    pub fn redis(url: impl Into<String>) -> Self {
        Self {
            backend: LedgerBackend::Redis,
            url: Some(url.into()),
            ..Self::memory()
        }
    }

    /// How long a reservation stays pending.
    pub fn pending_ttl(&self) -> Duration {
        Duration::from_secs(self.pending_ttl_seconds)
    }

    /// The longest a call may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

fn default_key_prefix() -> String {
    "export-ledger".to_owned()
}

fn default_pending_ttl_seconds() -> u64 {
    300
}

fn default_timeout_ms() -> u64 {
    50
}
