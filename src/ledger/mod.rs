//! License quantities across a fleet: a reservation ledger.
//!
//! A license grants a quantity of accelerators (`max_accelerators`) to one
//! customer. Checked one request at a time, a 64-accelerator license would
//! let a customer create 8-GPU instances without end; a [`Ledger`] counts
//! what each license has in use across every replica of the provisioning
//! API and refuses what would exceed it.
//!
//! # Lifecycle
//!
//! 1. [`reserve`](Ledger::reserve): atomically, only if the license's active
//!    and pending reservations plus `n` stay within its limit. A
//!    reservation starts *pending*; reserving again with the same id
//!    returns the first reservation instead of counting twice.
//! 2. [`confirm`](Ledger::confirm): the instance was created; *active*.
//! 3. [`release`](Ledger::release): the request failed, or the instance was
//!    terminated; its accelerators are free again.
//!
//! Pending reservations expire after a time (default 5 minutes), so a
//! replica that stops between reserve and confirm leaks nothing. Confirm
//! and release are idempotent. [`reconcile`](Ledger::reconcile) drops a
//! license's reservations that the provider's inventory no longer runs,
//! e.g. to rebuild a [`MemoryLedger`] at start-up.
//!
//! The layer reserves for licensed provisioning requests when its
//! [`Gate`](crate::Gate) has a ledger; see the README's section on
//! quantities.

mod config;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use config::{LedgerBackend, LedgerConfig};
pub use memory::MemoryLedger;
#[cfg(feature = "redis")]
pub use redis::RedisLedger;

/// The future a [`Ledger`] call returns: an answer already known (an
/// in-process ledger; no allocation), or a boxed future (a ledger across
/// the network). Object-safe, so the layer can hold a `dyn Ledger`.
#[must_use = "a ledger call does nothing unless awaited"]
pub struct LedgerFuture<'a, T>(Answer<'a, T>);

enum Answer<'a, T> {
    Ready(Option<Result<T, LedgerError>>),
    Pending(Pin<Box<dyn Future<Output = Result<T, LedgerError>> + Send + 'a>>),
}

impl<'a, T> LedgerFuture<'a, T> {
    /// A future that resolves to `result` on its first poll.
    pub fn ready(result: Result<T, LedgerError>) -> Self {
        Self(Answer::Ready(Some(result)))
    }

    /// A future that runs `future` (boxed).
    pub fn new(future: impl Future<Output = Result<T, LedgerError>> + Send + 'a) -> Self {
        Self(Answer::Pending(Box::pin(future)))
    }
}

// The answer is moved out, never pinned in place: no field is structurally
// pinned, so the future may move between polls whatever `T` is.
impl<T> Unpin for LedgerFuture<'_, T> {}

impl<T> Future for LedgerFuture<'_, T> {
    type Output = Result<T, LedgerError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Answer::Ready(answer) => match answer.take() {
                Some(answer) => Poll::Ready(answer),
                // Polled again after it answered: the caller's bug, and
                // an error rather than a panic.
                None => Poll::Ready(Err(LedgerError::Unavailable(
                    "a ledger future was polled after it completed".into(),
                ))),
            },
            Answer::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for LedgerFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            Answer::Ready(Some(_)) => "ready",
            Answer::Ready(None) => "done",
            Answer::Pending(_) => "pending",
        };
        f.debug_tuple("LedgerFuture").field(&state).finish()
    }
}

/// The id of a reservation: 1–256 visible ASCII characters, unique per
/// license. The layer uses the customer and the request's
/// `Idempotency-Key`, or the decision id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReservationId(Arc<str>);

impl ReservationId {
    /// The most characters an id has.
    pub const MAX_LEN: usize = 256;

    /// Checks `id`.
    ///
    /// # Errors
    /// When it is empty, longer than [`MAX_LEN`](Self::MAX_LEN), or not
    /// visible ASCII.
    pub fn new(id: &str) -> Result<Self, InvalidReservationId> {
        let ok = (1..=Self::MAX_LEN).contains(&id.len())
            && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if ok {
            Ok(Self(id.into()))
        } else {
            Err(InvalidReservationId)
        }
    }

    /// The id of the reservation a decision makes: its 32 hex digits.
    pub(crate) fn of_decision(id: crate::audit::DecisionId) -> Self {
        let hex = id.to_hex();
        Self(
            hex.iter()
                .map(|&b| char::from(b))
                .collect::<String>()
                .into(),
        )
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reservation id that is empty, too long or not visible ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a reservation id is 1 to 256 visible ASCII characters")]
pub struct InvalidReservationId;

/// What to reserve: `accelerators` of license `license` (its `jti`), whose
/// limit is `limit`, for `customer`'s `instance_type`.
///
/// The strings are shared (`Arc<str>`): the ledger keeps them with the
/// reservation and hands them back in its answers without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReservationRequest {
    /// The reservation's id.
    pub id: ReservationId,
    /// The license number (`jti`).
    pub license: Arc<str>,
    /// The customer (the license's `sub`).
    pub customer: Arc<str>,
    /// The instance type.
    pub instance_type: Arc<str>,
    /// Accelerators: instance count × accelerators per instance.
    pub accelerators: u64,
    /// The license's `max_accelerators`.
    pub limit: u64,
}

impl ReservationRequest {
    /// A request for `accelerators` of `license` (limit `limit`).
    pub fn new(
        id: ReservationId,
        license: impl Into<Arc<str>>,
        customer: impl Into<Arc<str>>,
        instance_type: impl Into<Arc<str>>,
        accelerators: u64,
        limit: u64,
    ) -> Self {
        Self {
            id,
            license: license.into(),
            customer: customer.into(),
            instance_type: instance_type.into(),
            accelerators,
            limit,
        }
    }
}

/// Pending (reserved, not yet confirmed) or active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReservationState {
    /// Reserved; expires unless confirmed.
    Pending,
    /// Confirmed: an instance holds it until released.
    Active,
}

/// A reservation held in a ledger.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Reservation {
    /// Its id.
    pub id: ReservationId,
    /// The license number (`jti`).
    #[serde(serialize_with = "shared_str")]
    pub license: Arc<str>,
    /// The customer.
    #[serde(serialize_with = "shared_str")]
    pub customer: Arc<str>,
    /// The instance type.
    #[serde(serialize_with = "shared_str")]
    pub instance_type: Arc<str>,
    /// Accelerators held.
    pub accelerators: u64,
    /// Pending or active.
    pub state: ReservationState,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
}

fn shared_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

impl serde::Serialize for ReservationId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What a license has in use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Usage {
    /// Accelerators held by active reservations.
    pub active: u64,
    /// Accelerators held by pending reservations.
    pub pending: u64,
}

impl Usage {
    /// Active and pending together: what counts against the limit.
    pub fn in_use(&self) -> u64 {
        self.active.saturating_add(self.pending)
    }
}

/// The answer to [`Ledger::reserve`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reserved {
    /// Reserved now: a new, pending reservation.
    Granted(Reservation),
    /// The id was reserved before (a retried request): that reservation,
    /// counted once. Whoever made it confirms or releases it.
    Existing(Reservation),
    /// The license's limit would be exceeded; nothing was reserved.
    Exhausted {
        /// The license's limit.
        limit: u64,
        /// What is in use (active and pending).
        in_use: u64,
        /// What was asked.
        requested: u64,
    },
}

/// Why a ledger could not answer. The layer fails closed on any of these
/// (`ledger_unavailable`, 503).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The ledger did not answer in time.
    #[error("the license ledger did not answer within {0:?}")]
    Timeout(Duration),
    /// The ledger could not be reached or failed.
    #[error("the license ledger is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The ledger a `[ledger]` section describes. A backend this build cannot
/// serve gives a ledger whose every call fails, so that licensed
/// provisioning fails closed (`ledger_unavailable`) rather than uncounted.
pub fn from_config(config: &LedgerConfig) -> std::sync::Arc<dyn Ledger> {
    match config.backend {
        LedgerBackend::Memory => {
            std::sync::Arc::new(MemoryLedger::new().with_pending_ttl(config.pending_ttl()))
        }
        #[cfg(feature = "redis")]
        LedgerBackend::Redis => match RedisLedger::new(config) {
            Ok(ledger) => std::sync::Arc::new(ledger),
            Err(_) => std::sync::Arc::new(Unavailable("the Redis ledger's URL is not usable")),
        },
        #[cfg(not(feature = "redis"))]
        LedgerBackend::Redis => std::sync::Arc::new(Unavailable(
            "this build has no Redis ledger (the `redis` feature)",
        )),
    }
}

/// A ledger that cannot be reached: every call fails.
struct Unavailable(&'static str);

impl Unavailable {
    fn fail<'a, T: Send + 'a>(&self) -> LedgerFuture<'a, T> {
        LedgerFuture::ready(Err(LedgerError::Unavailable(self.0.into())))
    }
}

impl Ledger for Unavailable {
    fn reserve(&self, _: ReservationRequest) -> LedgerFuture<'_, Reserved> {
        self.fail()
    }
    fn confirm<'a>(&'a self, _: &'a str, _: &'a ReservationId) -> LedgerFuture<'a, bool> {
        self.fail()
    }
    fn release<'a>(&'a self, _: &'a str, _: &'a ReservationId) -> LedgerFuture<'a, bool> {
        self.fail()
    }
    fn usage<'a>(&'a self, _: &'a str) -> LedgerFuture<'a, Usage> {
        self.fail()
    }
    fn reservations<'a>(&'a self, _: &'a str) -> LedgerFuture<'a, Vec<Reservation>> {
        self.fail()
    }
    fn reconcile<'a>(&'a self, _: &'a str, _: &'a [ReservationId]) -> LedgerFuture<'a, Usage> {
        self.fail()
    }
    fn release_detached(&self, _: &str, _: &ReservationId) {}
}

/// Counts license quantities. Every operation is atomic; confirm and
/// release are idempotent, and reserving an id already reserved returns
/// the first reservation. See the [module docs](self).
pub trait Ledger: Send + Sync + 'static {
    /// Reserves `request.accelerators` of `request.license` if its active
    /// and pending reservations plus them stay within `request.limit`.
    fn reserve(&self, request: ReservationRequest) -> LedgerFuture<'_, Reserved>;

    /// Makes a pending reservation active. Confirming an active one, or one
    /// that is gone, is not an error: `Ok(false)` says there was none.
    fn confirm<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool>;

    /// Frees a reservation. Releasing one that is gone is not an error:
    /// `Ok(false)` says there was none.
    fn release<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool>;

    /// What `license` has in use.
    fn usage<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Usage>;

    /// The reservations of `license`.
    fn reservations<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Vec<Reservation>>;

    /// Drops the reservations of `license` whose ids are not in `running`
    /// (the ids the provider's inventory says are still running) and
    /// returns the usage left.
    fn reconcile<'a>(
        &'a self,
        license: &'a str,
        running: &'a [ReservationId],
    ) -> LedgerFuture<'a, Usage>;

    /// Frees a reservation without waiting for the answer, for a request
    /// abandoned mid-way (the client went away). A release that cannot be
    /// made is left to the pending expiry.
    fn release_detached(&self, license: &str, id: &ReservationId);
}

/// A shared ledger: several gates (one per replica in tests, or layers in
/// one process) can count on one.
impl<L: Ledger + ?Sized> Ledger for std::sync::Arc<L> {
    fn reserve(&self, request: ReservationRequest) -> LedgerFuture<'_, Reserved> {
        (**self).reserve(request)
    }
    fn confirm<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        (**self).confirm(license, id)
    }
    fn release<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        (**self).release(license, id)
    }
    fn usage<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Usage> {
        (**self).usage(license)
    }
    fn reservations<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Vec<Reservation>> {
        (**self).reservations(license)
    }
    fn reconcile<'a>(
        &'a self,
        license: &'a str,
        running: &'a [ReservationId],
    ) -> LedgerFuture<'a, Usage> {
        (**self).reconcile(license, running)
    }
    fn release_detached(&self, license: &str, id: &ReservationId) {
        (**self).release_detached(license, id);
    }
}
