//! Decision records for the compliance audit trail.
//!
//! Every request the layer sees gets a decision id and, when an
//! [`AuditSink`] is configured, one [`AuditRecord`]: allowed, licensed,
//! denied, would-be denied (report-only) or rejected as malformed. Sinks
//! must not block the request path; [`AuditQueue`] is a bounded queue that
//! counts what it had to drop instead of waiting, and [`FileSink`] appends
//! records to a file as JSON lines from a background thread, with rotation.

mod file;

pub use file::{FileSink, FileSinkConfig, FileSinkError};

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::verdict::{Outcome, Verdict};
use crate::{AcceleratorClass, CountryCode, ReasonCode};

/// A process-unique id of one decision: 64 bits fixed at start-up (the
/// start time) and a 64-bit sequence number, shown as 32 hex digits. Each
/// thread takes numbers from its own block of 65,536 reserved on a shared
/// counter, so cores do not contend for a counter on every request.
/// Returned in tags, denial bodies and audit records, so a support request
/// can quote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DecisionId(u128);

impl DecisionId {
    /// The next id.
    pub fn next() -> Self {
        const BLOCK: u64 = 1 << 16;
        static EPOCH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        static BLOCKS: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            /// The next number of this thread's block, and the block's end.
            static NEXT: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
        }
        let epoch = *EPOCH.get_or_init(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        });
        let n = NEXT.with(|next| {
            let (mut n, mut end) = next.get();
            if n == end {
                n = BLOCKS.fetch_add(BLOCK, Ordering::Relaxed);
                end = n.wrapping_add(BLOCK);
            }
            next.set((n.wrapping_add(1), end));
            n
        });
        Self((u128::from(epoch) << 64) | u128::from(n))
    }
}

impl DecisionId {
    /// The 32 lower-case hex digits, without allocating.
    pub fn to_hex(self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'0'; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 4 * (31 - i);
            let nibble = (self.0 >> shift) & 0xf;
            *slot = DIGITS.get(nibble as usize).copied().unwrap_or(b'0');
        }
        out
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl Serialize for DecisionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One decision, as recorded: the [`Verdict`] with the request's customer
/// id, client address and time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The decision id.
    pub decision_id: DecisionId,
    /// When it was decided, in milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The reason, for everything but plain and licensed allows.
    pub reason: Option<ReasonCode>,
    /// The customer id header, when valid.
    pub customer_id: Option<String>,
    /// The declared country.
    pub country: Option<CountryCode>,
    /// The headquarters country.
    pub headquarters: Option<CountryCode>,
    /// The ultimate parent's headquarters country.
    pub parent_country: Option<CountryCode>,
    /// The network country.
    pub network_country: Option<CountryCode>,
    /// The client address the network country came from.
    pub client_ip: Option<IpAddr>,
    /// The instance type.
    pub instance_type: Option<String>,
    /// Instances requested.
    pub instance_count: Option<u32>,
    /// The accelerator class the rules were evaluated with (`None` for
    /// requests rejected before a decision).
    pub accelerator_class: Option<AcceleratorClass>,
    /// The rules (and policy defaults) that decided.
    pub rules: Vec<String>,
    /// The `jti` of the license used.
    pub license_id: Option<String>,
    /// The ledger reservation that counted the request.
    pub reservation: Option<String>,
    /// The policy digest.
    pub policy: String,
}

impl AuditRecord {
    /// The record of `verdict`, for a request from `customer_id` at
    /// `client_ip`, decided at `time`.
    pub fn new(
        verdict: &Verdict,
        customer_id: Option<&str>,
        client_ip: Option<IpAddr>,
        time: SystemTime,
    ) -> Self {
        Self {
            decision_id: verdict.decision_id(),
            time_unix_ms: unix_ms(time),
            outcome: verdict.outcome(),
            reason: verdict.reason(),
            customer_id: customer_id.map(str::to_owned),
            country: verdict.declared_country(),
            headquarters: verdict.headquarters(),
            parent_country: verdict.parent_country(),
            network_country: verdict.network_country(),
            client_ip,
            instance_type: verdict.instance_type().map(str::to_owned),
            instance_count: Some(verdict.instance_count()),
            accelerator_class: verdict.evaluated_class(),
            rules: verdict.rules().map(str::to_owned).collect(),
            license_id: verdict.license_id().map(str::to_owned),
            reservation: verdict.reservation().map(|r| r.id.as_str().to_owned()),
            policy: verdict.policy().digest().to_owned(),
        }
    }
}

/// Logs `verdict` on the `tower_export_control::audit` target: `info` for
/// what was decided, `warn` with "would deny" for report-only would-be
/// denials.
pub fn log(verdict: &Verdict) {
    struct Rules<'a>(&'a Verdict);
    impl fmt::Display for Rules<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (i, r) in self.0.rules().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                f.write_str(r)?;
            }
            Ok(())
        }
    }
    let (declared, network, headquarters, parent) = (
        verdict.declared_country(),
        verdict.network_country(),
        verdict.headquarters(),
        verdict.parent_country(),
    );
    if verdict.outcome() == Outcome::ReportOnlyDeny {
        tracing::warn!(
            target: "tower_export_control::audit",
            decision_id = %verdict.decision_id(),
            reason = verdict.reason().map(ReasonCode::as_str),
            rules = %Rules(verdict),
            policy = verdict.policy().digest(),
            "would deny: {}",
            verdict.detail().unwrap_or_default()
        );
        return;
    }
    tracing::info!(
        target: "tower_export_control::audit",
        decision_id = %verdict.decision_id(),
        outcome = verdict.outcome().as_str(),
        reason = verdict.reason().map(ReasonCode::as_str),
        country = declared.as_ref().map(CountryCode::as_str),
        network_country = network.as_ref().map(CountryCode::as_str),
        headquarters = headquarters.as_ref().map(CountryCode::as_str),
        parent_country = parent.as_ref().map(CountryCode::as_str),
        instance_type = verdict.instance_type(),
        class = verdict.evaluated_class().map(AcceleratorClass::as_str),
        rules = %Rules(verdict),
        license = verdict.license_id(),
        policy = verdict.policy().digest(),
        "export decision"
    );
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where audit records go. Called on the request path: it must not block.
/// Implemented for closures `Fn(AuditRecord)`.
pub trait AuditSink: Send + Sync + 'static {
    /// Takes one record.
    fn record(&self, record: AuditRecord);
}

impl<F> AuditSink for F
where
    F: Fn(AuditRecord) + Send + Sync + 'static,
{
    fn record(&self, record: AuditRecord) {
        self(record);
    }
}

/// A bounded, non-blocking queue of audit records. When the consumer falls
/// behind, new records are dropped and counted ([`AuditQueue::dropped`]),
/// never waited for.
///
/// ```
/// use tower_export_control::audit::AuditQueue;
/// use tower_export_control::{ExportControlLayer, Policy};
///
/// let (queue, records) = AuditQueue::bounded(10_000);
/// let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(queue.clone());
/// assert_eq!(queue.dropped(), 0);
/// std::thread::spawn(move || {
///     for record in records {
///         // write `record` (it is `Serialize`) to durable storage
///         let _ = record;
///     }
/// });
/// ```
///
/// Clones share the queue and its drop count: give one to the layer and
/// keep one to read [`dropped`](Self::dropped).
#[derive(Clone, Debug)]
pub struct AuditQueue {
    tx: SyncSender<AuditRecord>,
    dropped: Arc<AtomicU64>,
}

impl AuditQueue {
    /// A queue of at most `capacity` records, and its receiving end.
    pub fn bounded(capacity: usize) -> (Self, Receiver<AuditRecord>) {
        let (tx, rx) = sync_channel(capacity);
        let queue = Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (queue, rx)
    }

    /// Records dropped because the queue was full or its receiver gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl AuditSink for AuditQueue {
    fn record(&self, record: AuditRecord) {
        if let Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) = self.tx.try_send(record)
        {
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            crate::metrics::audit_dropped();
            tracing::warn!(
                target: "tower_export_control::audit",
                decision_id = %r.decision_id,
                dropped_total = total,
                "audit record dropped: queue full or closed"
            );
        }
    }
}
