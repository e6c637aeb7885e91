//! The layer and the state its services share.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tower_layer::Layer;

use super::ExportControl;
use super::denial::{DefaultDenial, MakeDenialResponse};
use crate::Policy;
use crate::audit::AuditSink;
use crate::policy::PolicyHandle;

/// What every clone of the service shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) policy: PolicyHandle,
    pub(crate) make_denial: Arc<dyn MakeDenialResponse>,
    pub(crate) clock: fn() -> SystemTime,
    pub(crate) audit: Option<Arc<dyn AuditSink>>,
}

impl Shared {
    pub(crate) fn new(policy: PolicyHandle) -> Self {
        Self {
            policy,
            make_denial: Arc::new(DefaultDenial),
            clock: SystemTime::now,
            audit: None,
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("policy", &self.policy)
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}

/// Applies [`ExportControl`] to a service; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ExportControlLayer {
    shared: Arc<Shared>,
}

impl ExportControlLayer {
    /// A layer enforcing `policy`: a [`Policy`], an `Arc<Policy>`, or a
    /// [`PolicyHandle`] to replace the policy while serving.
    pub fn new(policy: impl Into<PolicyHandle>) -> Self {
        Self {
            shared: Arc::new(Shared::new(policy.into())),
        }
    }

    /// Replaces the denial response (the typed [`Denial`](super::Denial) is
    /// still put into the response's extensions).
    #[must_use]
    pub fn deny_with(mut self, make: impl MakeDenialResponse) -> Self {
        Arc::make_mut(&mut self.shared).make_denial = Arc::new(make);
        self
    }

    /// Replaces the clock license times are checked against (tests, replay).
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        Arc::make_mut(&mut self.shared).clock = clock;
        self
    }

    /// Sends one [`AuditRecord`](crate::audit::AuditRecord) per request to
    /// `sink` (for example an [`AuditQueue`](crate::audit::AuditQueue)).
    /// The sink is called on the request path and must not block.
    #[must_use]
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        Arc::make_mut(&mut self.shared).audit = Some(sink);
        self
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.shared.policy.current()
    }

    /// The handle that replaces the policy while serving.
    pub fn policy_handle(&self) -> &PolicyHandle {
        &self.shared.policy
    }
}

impl<S> Layer<S> for ExportControlLayer {
    type Service = ExportControl<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExportControl {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}
