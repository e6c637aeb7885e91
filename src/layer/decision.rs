//! From facts to a [`Verdict`], and from the verdict to what the layer
//! does: tag and pass on, or answer the denial; record and log either.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Response;
use http::request::Parts;

use super::builder::Shared;
use super::denial::Denial;
use super::read::HeaderFacts;
use super::tags::ExportTags;
use crate::audit::{self, AuditRecord};
use crate::metrics;
use crate::verdict::Verdict;
use crate::{Facts, Policy, ReasonCode};

/// The response to a request the layer answers itself.
pub(crate) type Denied = Box<Response<Bytes>>;

/// One request in flight: the policy in force when it arrived, its client
/// address, and the time, read at most once and only if needed.
pub(crate) struct InFlight<'s> {
    pub(crate) shared: &'s Shared,
    pub(crate) policy: Arc<Policy>,
    pub(crate) client: Option<IpAddr>,
    now: std::cell::Cell<Option<SystemTime>>,
    /// How long deciding took, when metrics are recorded.
    took: Option<Duration>,
}

impl<'s> InFlight<'s> {
    pub(crate) fn new(shared: &'s Shared, policy: Arc<Policy>) -> Self {
        Self {
            shared,
            policy,
            client: None,
            now: std::cell::Cell::new(None),
            took: None,
        }
    }

    fn now(&self) -> SystemTime {
        let now = self.now.get().unwrap_or_else(self.shared.clock);
        self.now.set(Some(now));
        now
    }

    /// Evaluates the request: its rules, then its license.
    pub(crate) fn evaluate(&mut self, facts: &HeaderFacts) -> Verdict {
        let started = metrics::timed().then(Instant::now);
        let verdict = self.evaluate_untimed(facts);
        self.took = started.map(|s| s.elapsed());
        verdict
    }

    fn evaluate_untimed(&mut self, facts: &HeaderFacts) -> Verdict {
        let network = self
            .client
            .and_then(|ip| self.shared.gate.network_country(&self.policy, ip));
        let f = facts.to_facts(network);
        self.shared
            .gate
            .evaluate_on(&self.policy, &f, facts.license(), &mut || self.now())
    }

    /// Acts on the verdict, and records it: `Ok` once the request is
    /// tagged, `Err` with the denial response.
    pub(crate) fn act(
        &mut self,
        verdict: Verdict,
        facts: &HeaderFacts,
        parts: &mut Parts,
    ) -> Result<(), Denied> {
        self.record(&verdict, facts.customer_id());
        if verdict.outcome().passes() {
            let tags = ExportTags::new(verdict);
            tags.write_headers(self.policy.tag_values(), &mut parts.headers);
            parts.extensions.insert(tags);
            Ok(())
        } else {
            Err(self.render(verdict, parts))
        }
    }

    /// Rejects malformed input before any decision: records it and returns
    /// the response. `facts` holds what was read before the problem.
    pub(crate) fn reject(
        &self,
        reason: ReasonCode,
        detail: &str,
        facts: Option<&HeaderFacts>,
        parts: &Parts,
    ) -> Denied {
        let f = facts.map(|f| f.to_facts(None)).unwrap_or_default();
        let verdict = Verdict::rejected(Arc::clone(&self.policy), reason, detail, &f);
        self.record(&verdict, facts.and_then(HeaderFacts::customer_id));
        self.render(verdict, parts)
    }

    fn record(&self, verdict: &Verdict, customer_id: Option<&str>) {
        audit::log(verdict);
        metrics::decision(verdict, self.took);
        if let Some(sink) = &self.shared.audit {
            let now = self.now();
            sink.record(AuditRecord::new(verdict, customer_id, self.client, now));
        }
    }

    fn render(&self, verdict: Verdict, parts: &Parts) -> Denied {
        let denial = Denial::new(verdict);
        let mut response = self.shared.make_denial.make_response(&denial, parts);
        response.extensions_mut().insert(denial);
        Box::new(response)
    }
}

impl HeaderFacts {
    /// The facts to decide on.
    pub(crate) fn to_facts(&self, network_country: Option<crate::CountryCode>) -> Facts<'_> {
        let mut f = Facts::new();
        f.declared_country = self.declared;
        f.headquarters = self.headquarters;
        f.parent_country = self.parent;
        f.network_country = network_country;
        f.instance_type = self.instance_type.as_deref();
        f.instance_count = self.count.unwrap_or(1);
        f.customer_id = self.customer_id();
        f
    }
}
