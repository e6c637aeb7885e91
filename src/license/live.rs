//! Sources that change while serving: issuer key sets fetched from a
//! `jwks_url`, and revocation lists re-read from a changed `revoked_file`
//! or polled from a `revoked_url`.
//!
//! Each source is a *cell* (what requests read, swapped atomically) kept
//! up to date by one background thread. Requests never wait for a fetch:
//! they read the cell as it is, and at most ask the thread to fetch again
//! (a token naming an unknown `kid`). The cells are run-time state, owned
//! by a [`LiveSources`] registry in the [`LicenseVerifier`](super::LicenseVerifier)
//! and keyed by what they fetch, so a policy reload that names the same
//! source keeps its cell and thread. A [`LicenseTrust`](super::LicenseTrust)
//! only points at its cells (weakly): when the registry drops an entry (the
//! last gate is dropped, or a reload no longer names it) its thread stops.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

/// Background refresh threads running in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many background threads are refreshing issuer key sets
/// (`jwks_url`) and revocation lists (`revoked_file`, `revoked_url`) in
/// this process. Each stops once no gate (or verifier) uses its source.
pub fn refresh_threads() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

/// When a source is refreshed and how long its last good copy lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Schedule {
    pub(crate) refresh: Duration,
    pub(crate) max_stale: Duration,
    /// Shortest time between two fetches asked for by requests, and the
    /// shortest `max-age` honoured.
    pub(crate) min_refetch: Duration,
}

impl Schedule {
    /// The next refresh after a success: the interval, or the server's
    /// `max-age` when shorter (but not below `min_refetch`).
    fn after_success(&self, max_age: Option<Duration>) -> Duration {
        max_age.map_or(self.refresh, |age| {
            self.refresh.min(age.max(self.min_refetch))
        })
    }

    /// The next try after `failures` failures in a row: 1 s, doubling up
    /// to 30 s, and never later than the interval.
    fn after_failure(&self, failures: u32) -> Duration {
        let backoff = Duration::from_secs(1u64 << failures.saturating_sub(1).min(5));
        self.refresh.min(backoff.min(Duration::from_secs(30)))
    }
}

/// What a background thread does: fetch into its cell, or expire it.
pub(crate) trait Poller: Send + 'static {
    /// What requests read.
    type Cell: Send + Sync + 'static;
    /// Fetches the source and updates `cell`; the server's `max-age`, if
    /// any.
    fn poll(&mut self, cell: &Self::Cell) -> Result<Option<Duration>, String>;
    /// The last good copy is older than the maximum staleness: from now on
    /// `cell` fails closed, with `reason`.
    fn expire(&self, cell: &Self::Cell, reason: &str);
    /// The source, for logs.
    fn describe(&self) -> &str;
    /// The kind of source, a metrics label: `jwks` or `revocations`.
    const KIND: &'static str;
}

/// Wakes a background thread: to stop, or to fetch again now.
#[derive(Default)]
pub(crate) struct Signal {
    flags: Mutex<Flags>,
    wake: Condvar,
}

#[derive(Clone, Copy, Default)]
struct Flags {
    stop: bool,
    refetch: bool,
}

impl Signal {
    /// Asks for a fetch as soon as the rate limit allows; never blocks on
    /// the fetch itself.
    pub(crate) fn refetch(&self) {
        self.flags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refetch = true;
        self.wake.notify_one();
    }

    fn stop(&self) {
        self.flags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.wake.notify_one();
    }

    /// Waits until `deadline` or a flag is raised; returns (and clears)
    /// the flags.
    fn wait(&self, deadline: Instant) -> Flags {
        let mut flags = self.flags.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            if flags.stop || flags.refetch || now >= deadline {
                return std::mem::take(&mut *flags);
            }
            flags = self
                .wake
                .wait_timeout(flags, deadline.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Stops its thread when dropped.
struct Running(Arc<Signal>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Counts a running thread for [`refresh_threads`] until dropped.
struct Counted;

impl Counted {
    fn new() -> Self {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Self
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a trust finds the cell of one of its sources: unset until a
/// verifier attaches it, and dead once that verifier drops the source.
pub(crate) struct Slot<T>(RwLock<Weak<T>>);

impl<T> Slot<T> {
    pub(crate) fn new() -> Self {
        Self(RwLock::new(Weak::new()))
    }

    /// The cell, while a verifier keeps it.
    pub(crate) fn get(&self) -> Option<Arc<T>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()
    }

    fn set(&self, cell: &Arc<T>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(cell);
    }
}

/// A started source: its cell, its thread's signal and the thread's work.
pub(crate) type Started<C> = (Arc<C>, Arc<Signal>, Box<dyn FnOnce(Weak<C>) + Send>);

/// A source a trust names: how to find its cell in a registry, and how to
/// start one.
pub(crate) trait LiveSource {
    /// What requests read.
    type Cell: Send + Sync + 'static;
    /// What is fetched and how: equal keys share one cell and thread.
    fn key(&self) -> &str;
    /// Where the trust finds the cell.
    fn slot(&self) -> &Slot<Self::Cell>;
    /// A new cell, its thread's signal and the thread's work.
    fn start(&self) -> Started<Self::Cell>;
}

struct Entry {
    cell: Arc<dyn Any + Send + Sync>,
    _running: Running,
}

/// The cells and threads of one verifier, keyed by source.
#[derive(Default)]
pub(crate) struct LiveSources {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LiveSources {
    /// Points `source`'s slot at this registry's cell for it, starting one
    /// (and its thread) if there is none; nothing when the slot already
    /// holds a live cell.
    pub(crate) fn attach<S: LiveSource>(&self, source: &S) {
        if source.slot().get().is_some() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let existing = entries
            .get(source.key())
            .and_then(|e| Arc::clone(&e.cell).downcast::<S::Cell>().ok());
        let cell = match existing {
            Some(cell) => cell,
            None => {
                let (cell, signal, work) = source.start();
                let weak = Arc::downgrade(&cell);
                // Counted from before the spawn, so the count never lags.
                let counted = Counted::new();
                let spawned = std::thread::Builder::new()
                    .name("license-refresh".into())
                    .spawn(move || {
                        let _counted = counted;
                        work(weak);
                    });
                if let Err(e) = spawned {
                    tracing::error!(source = source.key(), error = %e, "cannot start the refresh thread");
                }
                let erased: Arc<dyn Any + Send + Sync> = Arc::clone(&cell) as _;
                entries.insert(
                    source.key().to_owned(),
                    Entry {
                        cell: erased,
                        _running: Running(signal),
                    },
                );
                cell
            }
        };
        source.slot().set(&cell);
    }

    /// Drops (and stops) every source whose key is not in `keep`.
    pub(crate) fn retain(&self, keep: &[&str]) {
        let dropped: Vec<Entry> = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let gone: Vec<String> = entries
                .keys()
                .filter(|k| !keep.contains(&k.as_str()))
                .cloned()
                .collect();
            gone.iter().filter_map(|k| entries.remove(k)).collect()
        };
        drop(dropped);
    }

    /// Sources in the registry.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }
}

/// A background thread's loop: poll on schedule and when asked (rate
/// limited), keep the last good copy on failure, expire it past the
/// maximum staleness. Ends when the cell is gone or the signal says stop.
pub(crate) fn run<P: Poller>(
    cell: Weak<P::Cell>,
    signal: Arc<Signal>,
    mut poller: P,
    schedule: Schedule,
    seeded: bool,
) {
    let start = Instant::now();
    let later = |t: Instant, d: Duration| t.checked_add(d).unwrap_or(t);
    let never = later(start, Duration::from_secs(10 * 365 * 86_400));
    let mut last_good = seeded.then_some(start);
    let mut expired = false;
    let mut next_poll = start;
    let mut last_refetch: Option<Instant> = None;
    let mut refetch_wanted = false;
    let mut failures: u32 = 0;
    loop {
        let refetch_at = match (refetch_wanted, last_refetch) {
            (false, _) => never,
            (true, None) => start,
            (true, Some(t)) => later(t, schedule.min_refetch),
        };
        let stale_at = match last_good {
            Some(t) if !expired => later(t, schedule.max_stale),
            _ => never,
        };
        let flags = signal.wait(next_poll.min(refetch_at).min(stale_at));
        if flags.stop {
            break;
        }
        refetch_wanted |= flags.refetch;
        let Some(cell) = cell.upgrade() else { break };
        let now = Instant::now();
        let refetch_now =
            refetch_wanted && last_refetch.is_none_or(|t| now >= later(t, schedule.min_refetch));
        if now >= next_poll || refetch_now {
            if refetch_wanted {
                last_refetch = Some(now);
                refetch_wanted = false;
            }
            let polled = poller.poll(&cell);
            crate::metrics::refresh(P::KIND, polled.is_ok());
            match polled {
                Ok(max_age) => {
                    if expired {
                        tracing::info!(
                            source = poller.describe(),
                            "refreshed again after expiring"
                        );
                    }
                    last_good = Some(now);
                    expired = false;
                    failures = 0;
                    next_poll = later(now, schedule.after_success(max_age));
                }
                Err(error) => {
                    tracing::warn!(
                        source = poller.describe(),
                        %error,
                        "refresh failed; the last good copy stays in use until it is too stale"
                    );
                    failures = failures.saturating_add(1);
                    next_poll = later(now, schedule.after_failure(failures));
                }
            }
        }
        if !expired
            && let Some(t) = last_good
            && now >= later(t, schedule.max_stale)
        {
            expired = true;
            let reason = format!(
                "not refreshed for over {} s (the maximum staleness)",
                schedule.max_stale.as_secs()
            );
            tracing::error!(source = poller.describe(), %reason, "failing closed");
            poller.expire(&cell, &reason);
        }
    }
}

/// Longest interval or staleness accepted: one year.
const MAX_SECONDS: u64 = 365 * 86_400;

/// A schedule from configured seconds, each checked to be from 1 s to a
/// year, and the staleness no shorter than the interval (else the copy
/// would expire between two refreshes).
pub(crate) fn schedule(
    owner: &str,
    [refresh, max_stale, min_refetch]: [(&'static str, u64); 3],
) -> Result<Schedule, super::LicenseConfigError> {
    let setting =
        |field: &'static str, value: u64, detail: String| super::LicenseConfigError::Setting {
            owner: owner.to_owned(),
            field,
            value,
            detail,
        };
    for (field, value) in [refresh, max_stale, min_refetch] {
        if !(1..=MAX_SECONDS).contains(&value) {
            return Err(setting(
                field,
                value,
                format!("must be from 1 to {MAX_SECONDS} seconds"),
            ));
        }
    }
    if max_stale.1 < refresh.1 {
        return Err(setting(
            max_stale.0,
            max_stale.1,
            format!("must be at least {} ({})", refresh.0, refresh.1),
        ));
    }
    Ok(Schedule {
        refresh: Duration::from_secs(refresh.1),
        max_stale: Duration::from_secs(max_stale.1),
        min_refetch: Duration::from_secs(min_refetch.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(refresh: u64, min_refetch: u64) -> Schedule {
        Schedule {
            refresh: Duration::from_secs(refresh),
            max_stale: Duration::from_secs(86_400),
            min_refetch: Duration::from_secs(min_refetch),
        }
    }

    #[test]
    fn max_age_shortens_the_refresh_down_to_the_refetch_floor() {
        let s = schedule(300, 30);
        let secs = |age: Option<u64>| s.after_success(age.map(Duration::from_secs)).as_secs();
        assert_eq!(secs(None), 300);
        assert_eq!(secs(Some(60)), 60);
        assert_eq!(secs(Some(3600)), 300);
        assert_eq!(secs(Some(0)), 30);
    }

    #[test]
    fn failures_back_off_from_one_second_to_thirty() {
        let s = schedule(300, 30);
        let waits: Vec<u64> = (1..=8).map(|n| s.after_failure(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(schedule(5, 1).after_failure(6).as_secs(), 5);
    }
}
