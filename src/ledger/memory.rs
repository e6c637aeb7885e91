//! [`MemoryLedger`]: the ledger in this process.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{
    Ledger, LedgerFuture, Reservation, ReservationId, ReservationRequest, ReservationState,
    Reserved, Usage,
};

/// A ledger in this process: one lock around a map of licenses, no I/O,
/// and no allocation to reserve or confirm beyond growing a license's map.
/// The default for the demo server and for a single replica of the
/// provisioning API.
///
/// It forgets everything when the process stops. Rebuild it at start-up
/// from the provider's inventory: for each running instance, reserve and
/// confirm its reservation (the id, license and accelerators the handler
/// stored from the `x-export-reservation` tag), then
/// [`reconcile`](Ledger::reconcile) each license against the ids still
/// running. Until then a license's earlier use is not counted.
///
/// ```
/// use tower_export_control::ledger::{
///     Ledger, MemoryLedger, ReservationId, ReservationRequest, Reserved,
/// };
///
/// # futures_lite_block_on(async {
/// let ledger = MemoryLedger::new();
/// let id = ReservationId::new("acme-cn/order-1").unwrap();
/// let request = ReservationRequest::new(id.clone(), "LIC-1", "acme-cn", "p5.48xlarge", 8, 64);
/// assert!(matches!(ledger.reserve(request).await?, Reserved::Granted(_)));
/// ledger.confirm("LIC-1", &id).await?;
/// assert_eq!(ledger.usage("LIC-1").await?.active, 8);
/// # Ok::<(), tower_export_control::ledger::LedgerError>(())
/// # }).unwrap();
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct MemoryLedger {
    licenses: Mutex<HashMap<Arc<str>, License, KeyHasher>>,
    pending_ttl: Duration,
    clock: Clock,
    hasher: KeyHasher,
}

/// One license's reservations. Kept when the last one is released (a few
/// dozen bytes per license ever counted; licenses are signed tokens, not
/// names a client makes up), so that counting again allocates nothing.
struct License {
    held: HashMap<ReservationId, Held, KeyHasher>,
    usage: Usage,
    /// No pending reservation lapses before this (a lower bound; `None`
    /// when none is pending).
    next_lapse: Option<Instant>,
}

/// A reservation as held: the license is the map's key, the id the
/// license's. The strings are shared with the request that made it.
struct Held {
    customer: Arc<str>,
    instance_type: Arc<str>,
    accelerators: u64,
    created_unix_ms: u64,
    /// Pending: when it lapses. Active: `None`.
    lapses: Option<Instant>,
}

impl MemoryLedger {
    /// How long a reservation stays pending by default.
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(300);

    /// An empty ledger.
    pub fn new() -> Self {
        let hasher = KeyHasher::random();
        Self {
            licenses: Mutex::new(HashMap::with_hasher(hasher)),
            pending_ttl: Self::DEFAULT_PENDING_TTL,
            clock: Clock::new(),
            hasher,
        }
    }

    /// With pending reservations lapsing after `ttl`.
    #[must_use]
    pub fn with_pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, License, KeyHasher>> {
        // Every update below leaves the map consistent, so a poisoned lock
        // still holds a usable ledger.
        self.licenses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reserve_now(&self, request: ReservationRequest) -> Reserved {
        let now = Instant::now();
        let mut licenses = self.lock();
        let license = licenses
            .entry(Arc::clone(&request.license))
            .or_insert_with(|| License::new(self.hasher));
        license.expire(now);
        let in_use = license.usage.in_use();
        let slot = match license.held.entry(request.id.clone()) {
            Entry::Occupied(held) => {
                return Reserved::Existing(held.get().reservation(&request.license, &request.id));
            }
            Entry::Vacant(slot) => slot,
        };
        let fits = in_use
            .checked_add(request.accelerators)
            .is_some_and(|total| total <= request.limit);
        if !fits {
            return Reserved::Exhausted {
                limit: request.limit,
                in_use,
                requested: request.accelerators,
            };
        }
        let lapses = now.checked_add(self.pending_ttl).unwrap_or(now);
        let created_unix_ms = self.clock.unix_ms(now);
        slot.insert(Held {
            customer: Arc::clone(&request.customer),
            instance_type: Arc::clone(&request.instance_type),
            accelerators: request.accelerators,
            created_unix_ms,
            lapses: Some(lapses),
        });
        license.usage.pending = license.usage.pending.saturating_add(request.accelerators);
        license.next_lapse = Some(license.next_lapse.map_or(lapses, |t| t.min(lapses)));
        Reserved::Granted(Reservation {
            id: request.id,
            license: request.license,
            customer: request.customer,
            instance_type: request.instance_type,
            accelerators: request.accelerators,
            state: ReservationState::Pending,
            created_unix_ms,
        })
    }

    /// Reads no clock: a reservation past its lapse time that nothing has
    /// dropped yet still counts, so confirming it late frees nothing
    /// twice. Once dropped (by a reserve, usage or listing), it is gone.
    fn confirm_now(&self, license: &str, id: &ReservationId) -> bool {
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license) else {
            return false;
        };
        let Some(held) = license.held.get_mut(id) else {
            return false;
        };
        if held.lapses.take().is_some() {
            let n = held.accelerators;
            license.usage.pending = license.usage.pending.saturating_sub(n);
            license.usage.active = license.usage.active.saturating_add(n);
        }
        true
    }

    fn release_now(&self, license: &str, id: &ReservationId) -> bool {
        self.lock()
            .get_mut(license)
            .is_some_and(|license| license.remove(id))
    }

    fn usage_now(&self, license: &str) -> Usage {
        let now = Instant::now();
        self.lock()
            .get_mut(license)
            .map_or_else(Usage::default, |l| {
                l.expire(now);
                l.usage
            })
    }

    fn reservations_now(&self, license_id: &str) -> Vec<Reservation> {
        let now = Instant::now();
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license_id) else {
            return Vec::new();
        };
        license.expire(now);
        let key: Arc<str> = Arc::from(license_id);
        let mut all: Vec<Reservation> = license
            .held
            .iter()
            .map(|(id, held)| held.reservation(&key, id))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn reconcile_now(&self, license_id: &str, running: &[ReservationId]) -> Usage {
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license_id) else {
            return Usage::default();
        };
        let running: HashSet<&ReservationId, KeyHasher> = {
            let mut set = HashSet::with_capacity_and_hasher(running.len(), self.hasher);
            set.extend(running);
            set
        };
        license.retain(|id, _| running.contains(id));
        license.usage
    }
}

impl License {
    fn new(hasher: KeyHasher) -> Self {
        Self {
            held: HashMap::with_hasher(hasher),
            usage: Usage::default(),
            next_lapse: None,
        }
    }

    /// Drops pending reservations that have lapsed.
    fn expire(&mut self, now: Instant) {
        if self.next_lapse.is_some_and(|t| t <= now) {
            self.retain(|_, held| held.lapses.is_none_or(|t| t > now));
        }
    }

    /// Keeps the reservations `keep` says to, and counts again what is
    /// left.
    fn retain(&mut self, mut keep: impl FnMut(&ReservationId, &Held) -> bool) {
        self.held.retain(|id, held| keep(id, held));
        let mut usage = Usage::default();
        let mut next_lapse: Option<Instant> = None;
        for held in self.held.values() {
            match held.lapses {
                Some(t) => {
                    usage.pending = usage.pending.saturating_add(held.accelerators);
                    next_lapse = Some(next_lapse.map_or(t, |n| n.min(t)));
                }
                None => usage.active = usage.active.saturating_add(held.accelerators),
            }
        }
        self.usage = usage;
        self.next_lapse = next_lapse;
    }

    fn remove(&mut self, id: &ReservationId) -> bool {
        let Some(held) = self.held.remove(id) else {
            return false;
        };
        let n = held.accelerators;
        if held.lapses.is_some() {
            self.usage.pending = self.usage.pending.saturating_sub(n);
        } else {
            self.usage.active = self.usage.active.saturating_sub(n);
        }
        true
    }
}

impl Held {
    fn reservation(&self, license: &Arc<str>, id: &ReservationId) -> Reservation {
        Reservation {
            id: id.clone(),
            license: Arc::clone(license),
            customer: Arc::clone(&self.customer),
            instance_type: Arc::clone(&self.instance_type),
            accelerators: self.accelerators,
            state: if self.lapses.is_some() {
                ReservationState::Pending
            } else {
                ReservationState::Active
            },
            created_unix_ms: self.created_unix_ms,
        }
    }
}

/// Wall-clock times from the monotonic clock: one clock read per call.
/// Creation times follow the wall clock as it was when the ledger was
/// made, not later steps of it.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    start_unix_ms: u64,
}

impl Clock {
    fn new() -> Self {
        let start_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            start: Instant::now(),
            start_unix_ms,
        }
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start).as_millis();
        self.start_unix_ms
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }
}

/// The hash of the ledger's keys (license numbers and reservation ids):
/// a multiply-rotate hash over 8-byte words (as rustc's `FxHasher`),
/// seeded at random per ledger. SipHash, the standard map's, costs more
/// than the rest of a reservation. Hash flooding gains little here: a
/// license's map holds at most as many reservations as its limit allows,
/// and license numbers come from signed tokens.
#[derive(Clone, Copy)]
struct KeyHasher {
    seed: u64,
}

impl KeyHasher {
    fn random() -> Self {
        Self {
            seed: std::hash::RandomState::new().build_hasher().finish(),
        }
    }
}

impl BuildHasher for KeyHasher {
    type Hasher = WordHasher;

    fn build_hasher(&self) -> WordHasher {
        WordHasher(self.seed)
    }
}

struct WordHasher(u64);

impl WordHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let (words, rest) = bytes.as_chunks::<8>();
        for word in words {
            self.add(u64::from_le_bytes(*word));
        }
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            for (to, from) in last.iter_mut().zip(rest) {
                *to = *from;
            }
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // The product's high bits are its best mixed; the map takes its
        // bucket from the low ones.
        self.0.rotate_left(26)
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl Ledger for MemoryLedger {
    fn reserve(&self, request: ReservationRequest) -> LedgerFuture<'_, Reserved> {
        LedgerFuture::ready(Ok(self.reserve_now(request)))
    }

    fn confirm<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        LedgerFuture::ready(Ok(self.confirm_now(license, id)))
    }

    fn release<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        LedgerFuture::ready(Ok(self.release_now(license, id)))
    }

    fn usage<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Usage> {
        LedgerFuture::ready(Ok(self.usage_now(license)))
    }

    fn reservations<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Vec<Reservation>> {
        LedgerFuture::ready(Ok(self.reservations_now(license)))
    }

    fn reconcile<'a>(
        &'a self,
        license: &'a str,
        running: &'a [ReservationId],
    ) -> LedgerFuture<'a, Usage> {
        LedgerFuture::ready(Ok(self.reconcile_now(license, running)))
    }

    fn release_detached(&self, license: &str, id: &ReservationId) {
        self.release_now(license, id);
    }
}

impl fmt::Debug for MemoryLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLedger")
            .field("licenses", &self.lock().len())
            .field("pending_ttl", &self.pending_ttl)
            .finish()
    }
}
