//! [`MemoryLedger`]: the ledger in this process.

use std::collections::HashMap;
use std::fmt;
use std::future::ready;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{
    Ledger, LedgerFuture, Reservation, ReservationId, ReservationRequest, ReservationState,
    Reserved, Usage,
};

/// A ledger in this process: one lock around a map per license, no I/O.
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
    licenses: Mutex<HashMap<String, License>>,
    pending_ttl: Duration,
}

#[derive(Default)]
struct License {
    held: HashMap<ReservationId, Held>,
    usage: Usage,
}

struct Held {
    reservation: Reservation,
    /// For pending reservations: when they lapse.
    expires: Option<Instant>,
}

impl MemoryLedger {
    /// How long a reservation stays pending by default.
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(300);

    /// An empty ledger.
    pub fn new() -> Self {
        Self {
            licenses: Mutex::new(HashMap::new()),
            pending_ttl: Self::DEFAULT_PENDING_TTL,
        }
    }

    /// With pending reservations lapsing after `ttl`.
    #[must_use]
    pub fn with_pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, License>> {
        // Every update below leaves the map consistent, so a poisoned lock
        // still holds a usable ledger.
        self.licenses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reserve_now(&self, request: ReservationRequest) -> Reserved {
        let now = Instant::now();
        let mut licenses = self.lock();
        let license = licenses.entry(request.license.clone()).or_default();
        license.expire(now);
        if let Some(held) = license.held.get(&request.id) {
            return Reserved::Existing(held.reservation.clone());
        }
        let in_use = license.usage.in_use();
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
        let reservation = Reservation {
            id: request.id.clone(),
            license: request.license,
            customer: request.customer,
            instance_type: request.instance_type,
            accelerators: request.accelerators,
            state: ReservationState::Pending,
            created_unix_ms: unix_ms(),
        };
        license.usage.pending = license.usage.pending.saturating_add(request.accelerators);
        let expires = now.checked_add(self.pending_ttl);
        license.held.insert(
            request.id,
            Held {
                reservation: reservation.clone(),
                expires: Some(expires.unwrap_or(now)),
            },
        );
        Reserved::Granted(reservation)
    }

    fn confirm_now(&self, license: &str, id: &ReservationId) -> bool {
        let now = Instant::now();
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license) else {
            return false;
        };
        license.expire(now);
        let Some(held) = license.held.get_mut(id) else {
            return false;
        };
        if held.reservation.state == ReservationState::Pending {
            let n = held.reservation.accelerators;
            held.reservation.state = ReservationState::Active;
            held.expires = None;
            license.usage.pending = license.usage.pending.saturating_sub(n);
            license.usage.active = license.usage.active.saturating_add(n);
        }
        true
    }

    fn release_now(&self, license_id: &str, id: &ReservationId) -> bool {
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license_id) else {
            return false;
        };
        let released = license.remove(id);
        if license.held.is_empty() {
            licenses.remove(license_id);
        }
        released
    }

    fn usage_now(&self, license: &str) -> Usage {
        let mut licenses = self.lock();
        licenses.get_mut(license).map_or_else(Usage::default, |l| {
            l.expire(Instant::now());
            l.usage
        })
    }

    fn reservations_now(&self, license: &str) -> Vec<Reservation> {
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license) else {
            return Vec::new();
        };
        license.expire(Instant::now());
        let mut all: Vec<Reservation> = license
            .held
            .values()
            .map(|h| h.reservation.clone())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn reconcile_now(&self, license_id: &str, running: &[ReservationId]) -> Usage {
        let mut licenses = self.lock();
        let Some(license) = licenses.get_mut(license_id) else {
            return Usage::default();
        };
        let gone: Vec<ReservationId> = license
            .held
            .keys()
            .filter(|id| !running.contains(id))
            .cloned()
            .collect();
        for id in &gone {
            license.remove(id);
        }
        let usage = license.usage;
        if license.held.is_empty() {
            licenses.remove(license_id);
        }
        usage
    }
}

impl License {
    /// Drops pending reservations that have lapsed.
    fn expire(&mut self, now: Instant) {
        if self.usage.pending == 0 {
            return;
        }
        let lapsed: Vec<ReservationId> = self
            .held
            .iter()
            .filter(|(_, h)| h.expires.is_some_and(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &lapsed {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: &ReservationId) -> bool {
        let Some(held) = self.held.remove(id) else {
            return false;
        };
        let n = held.reservation.accelerators;
        match held.reservation.state {
            ReservationState::Pending => self.usage.pending = self.usage.pending.saturating_sub(n),
            ReservationState::Active => self.usage.active = self.usage.active.saturating_sub(n),
        }
        true
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl Ledger for MemoryLedger {
    fn reserve(&self, request: ReservationRequest) -> LedgerFuture<'_, Reserved> {
        Box::pin(ready(Ok(self.reserve_now(request))))
    }

    fn confirm<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        Box::pin(ready(Ok(self.confirm_now(license, id))))
    }

    fn release<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        Box::pin(ready(Ok(self.release_now(license, id))))
    }

    fn usage<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Usage> {
        Box::pin(ready(Ok(self.usage_now(license))))
    }

    fn reservations<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Vec<Reservation>> {
        Box::pin(ready(Ok(self.reservations_now(license))))
    }

    fn reconcile<'a>(
        &'a self,
        license: &'a str,
        running: &'a [ReservationId],
    ) -> LedgerFuture<'a, Usage> {
        Box::pin(ready(Ok(self.reconcile_now(license, running))))
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
