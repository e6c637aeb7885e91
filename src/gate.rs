//! [`Gate`]: the policy in force, replaceable while serving, and the state
//! that lives beside it.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::jurisdiction::IpTable;
use crate::ledger::{self, Ledger};
use crate::license::{LicenseTrust, LicenseVerifier};
use crate::verdict::{self, Verdict};
use crate::watch::{PolicyWatcher, WatchOptions};
use crate::{CountryCode, Facts, Policy, PolicyError};

/// The policy in force and the state that lives while serving: licenses
/// revoked at run time, the verified-token cache and the issuer keys and
/// revocation lists fetched in the background (a [`LicenseVerifier`]), and
/// an IP table or license issuers set in code.
///
/// A reload ([`Gate::reload_from_path`], [`Gate::replace`]) swaps only the
/// policy: a revocation made with [`Gate::revoke`] and an IP table set with
/// [`Gate::with_ip_table`] stay in force, and a key set or revocation list
/// the new policy names too is kept as fetched. Each request is decided on the
/// policy current when it arrived. Cloning a gate is cheap; clones share
/// everything.
///
/// Where both name one, the policy file wins: its `[network] ip_tables`
/// over the gate's IP table, and its `[license]` issuers over the gate's
/// [`LicenseTrust`]. The gate's serve the policies that name none.
///
/// ```
/// use tower_export_control::{ExportControlLayer, Gate, Policy};
///
/// let gate = Gate::new(Policy::embedded_default());
/// let layer = ExportControlLayer::new(gate.clone());
/// gate.revoke("LIC-2026-0042"); // in force at once, and after any reload
/// // Later, e.g. on SIGHUP: a bad file is reported and changes nothing.
/// assert!(gate.reload_from_path("no-such-policy.toml").is_err());
/// assert_eq!(layer.gate().policy().name(), "ear-3a090-default");
/// assert!(gate.license_verifier().is_revoked("LIC-2026-0042"));
/// ```
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    policy: ArcSwap<Policy>,
    verifier: LicenseVerifier,
    ip_table: ArcSwapOption<IpTable>,
    license_trust: ArcSwapOption<LicenseTrust>,
    ledger: ArcSwapOption<Arc<dyn Ledger>>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

/// Counts of policy reloads from files ([`Gate::reload_from_path`] and
/// [`PolicyWatcher`]) since the gate was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadStats {
    /// Reloads that put a new policy in force.
    pub reloads: u64,
    /// Reloads refused (unreadable or invalid file); the policy in force
    /// stayed.
    pub failures: u64,
}

/// A gate that does not keep it alive, for background threads.
pub(crate) struct WeakGate(Weak<Inner>);

impl WeakGate {
    pub(crate) fn upgrade(&self) -> Option<Gate> {
        self.0.upgrade().map(|inner| Gate { inner })
    }
}

impl Gate {
    /// A gate serving `policy`. Its token cache holds the policy's
    /// `cache_entries` tokens, and its ledger is the one the policy's
    /// `[ledger]` section describes, if any.
    pub fn new(policy: impl Into<Arc<Policy>>) -> Self {
        let policy = policy.into();
        let verifier = LicenseVerifier::new(policy.license_trust().cache_entries());
        let ledger = policy
            .ledger_config()
            .map(|c| Arc::new(ledger::from_config(c)));
        let gate = Self {
            inner: Arc::new(Inner {
                policy: ArcSwap::new(policy),
                verifier,
                ip_table: ArcSwapOption::empty(),
                license_trust: ArcSwapOption::empty(),
                ledger: ArcSwapOption::new(ledger),
                reloads: AtomicU64::new(0),
                reload_failures: AtomicU64::new(0),
            }),
        };
        gate.track_live_sources();
        gate
    }

    /// With a ledger counting license quantities across the fleet, in place
    /// of the one the policy describes. The ledger lives while serving: a
    /// reload keeps it (a changed `[ledger]` section takes effect on the
    /// next start).
    #[must_use]
    pub fn with_ledger(self, ledger: impl Ledger) -> Self {
        self.inner.ledger.store(Some(Arc::new(Arc::new(ledger))));
        self
    }

    /// The ledger counting license quantities, if there is one.
    pub fn ledger(&self) -> Option<Arc<dyn Ledger>> {
        self.inner.ledger.load().as_deref().map(Arc::clone)
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.policy.load_full()
    }

    /// Puts `policy` in force; returns the one it replaces.
    pub fn replace(&self, policy: impl Into<Arc<Policy>>) -> Arc<Policy> {
        let old = self.inner.policy.swap(policy.into());
        self.track_live_sources();
        old
    }

    /// Loads and validates a policy file, then puts it in force. On error
    /// the current policy stays.
    ///
    /// # Errors
    /// The [`PolicyError`] of the new file.
    pub fn reload_from_path(&self, path: impl AsRef<Path>) -> Result<Arc<Policy>, PolicyError> {
        match Policy::from_path(path) {
            Ok(policy) => {
                self.inner.reloads.fetch_add(1, Ordering::Relaxed);
                crate::metrics::policy_reload(true);
                Ok(self.replace(policy))
            }
            Err(e) => {
                self.inner.reload_failures.fetch_add(1, Ordering::Relaxed);
                crate::metrics::policy_reload(false);
                Err(e)
            }
        }
    }

    /// Reloads and refused reloads from files so far.
    pub fn reload_stats(&self) -> ReloadStats {
        ReloadStats {
            reloads: self.inner.reloads.load(Ordering::Relaxed),
            failures: self.inner.reload_failures.load(Ordering::Relaxed),
        }
    }

    /// Reloads the policy from `path` whenever the file changes (polled
    /// every 250 ms), until the returned watcher is dropped. See
    /// [`PolicyWatcher`].
    pub fn watch_file(&self, path: impl Into<std::path::PathBuf>) -> PolicyWatcher {
        self.watch_file_with(path, WatchOptions::default())
    }

    /// [`watch_file`](Self::watch_file) with other poll settings.
    pub fn watch_file_with(
        &self,
        path: impl Into<std::path::PathBuf>,
        options: WatchOptions,
    ) -> PolicyWatcher {
        PolicyWatcher::start(self, path.into(), options)
    }

    pub(crate) fn downgrade(&self) -> WeakGate {
        WeakGate(Arc::downgrade(&self.inner))
    }

    /// With an IP-to-country table for policies that name no `ip_tables`.
    #[must_use]
    pub fn with_ip_table(self, table: impl Into<Arc<IpTable>>) -> Self {
        self.set_ip_table(table);
        self
    }

    /// Replaces the IP-to-country table for policies that name no
    /// `ip_tables`, from the next request on.
    pub fn set_ip_table(&self, table: impl Into<Arc<IpTable>>) {
        self.inner.ip_table.store(Some(table.into()));
    }

    /// With trusted license issuers for policies whose `[license]` section
    /// names none, e.g. from [`LicenseTrust::from_toml_path`].
    #[must_use]
    pub fn with_license_trust(self, trust: impl Into<Arc<LicenseTrust>>) -> Self {
        self.set_license_trust(trust);
        self
    }

    /// Replaces the trusted license issuers for policies that name none.
    pub fn set_license_trust(&self, trust: impl Into<Arc<LicenseTrust>>) {
        self.inner.license_trust.store(Some(trust.into()));
        self.track_live_sources();
    }

    /// Starts fetching the key sets and revocation lists (`jwks_url`,
    /// `revoked_file`, `revoked_url`) of the trusts in force, keeps those
    /// already fetched, and stops those no longer named. They are run-time
    /// state: their threads end when the last clone of the gate is dropped.
    fn track_live_sources(&self) {
        let policy = self.policy();
        let gate_trust = self.inner.license_trust.load_full();
        let mut trusts = vec![policy.license_trust().as_ref()];
        trusts.extend(gate_trust.as_deref());
        self.inner.verifier.track(&trusts);
    }

    /// Revokes a license number (`jti`) from now on, whatever the policy in
    /// force now or later says.
    pub fn revoke(&self, jti: &str) {
        self.inner.verifier.revoke(jti);
    }

    /// The license verifier: revocations made while serving and the
    /// verified-token cache.
    pub fn license_verifier(&self) -> &LicenseVerifier {
        &self.inner.verifier
    }

    /// The license issuers trusted under `policy`: its own, or the gate's
    /// when it names none.
    pub fn license_trust(&self, policy: &Policy) -> Arc<LicenseTrust> {
        if !policy.license_trust().has_issuers()
            && let Some(trust) = self.inner.license_trust.load_full()
        {
            return trust;
        }
        Arc::clone(policy.license_trust())
    }

    /// The IP table used under `policy`: its own, or the gate's when it
    /// names none.
    pub fn ip_table(&self, policy: &Policy) -> Option<Arc<IpTable>> {
        policy
            .ip_table()
            .cloned()
            .or_else(|| self.inner.ip_table.load_full())
    }

    /// The country of `ip` under `policy`, if its IP table knows it.
    pub fn network_country(&self, policy: &Policy, ip: IpAddr) -> Option<CountryCode> {
        match policy.ip_table() {
            Some(table) => table.lookup(ip),
            None => self.inner.ip_table.load().as_ref()?.lookup(ip),
        }
    }

    /// Evaluates a request on the policy in force: its rules, then the
    /// license token when they require one, then report-only mode.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tower_export_control::{CountryCode, Facts, Gate, Outcome, Policy, ReasonCode};
    ///
    /// let gate = Gate::new(Policy::embedded_default());
    /// let facts = Facts::new()
    ///     .with_declared_country(CountryCode::parse("CN").unwrap())
    ///     .with_instance_type("p5.48xlarge");
    /// let verdict = gate.evaluate(&facts, None, SystemTime::now());
    /// assert_eq!(verdict.outcome(), Outcome::Deny);
    /// assert_eq!(verdict.reason(), Some(ReasonCode::LicenseRequired));
    /// ```
    pub fn evaluate(&self, facts: &Facts<'_>, license: Option<&str>, now: SystemTime) -> Verdict {
        self.evaluate_on(&self.policy(), facts, license, &mut || now)
    }

    /// [`evaluate`](Self::evaluate) on a given policy, reading the clock
    /// only if something needs the time.
    pub(crate) fn evaluate_on(
        &self,
        policy: &Arc<Policy>,
        facts: &Facts<'_>,
        license: Option<&str>,
        now: &mut dyn FnMut() -> SystemTime,
    ) -> Verdict {
        // The trust is looked up only for a license check.
        let trust = || self.license_trust(policy);
        verdict::evaluate(policy, &trust, &self.inner.verifier, facts, license, now)
    }
}

impl From<Policy> for Gate {
    fn from(policy: Policy) -> Self {
        Self::new(policy)
    }
}

impl From<Arc<Policy>> for Gate {
    fn from(policy: Arc<Policy>) -> Self {
        Self::new(policy)
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("policy", &self.inner.policy.load())
            .field("verifier", &self.inner.verifier)
            .field("ip_table", &self.inner.ip_table.load().is_some())
            .field("license_trust", &self.inner.license_trust.load().is_some())
            .field("ledger", &self.inner.ledger.load().is_some())
            .finish()
    }
}
