//! The layer and the state its services share.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tower_layer::Layer;

use super::ExportControl;
use super::denial::{DefaultDenial, MakeDenialResponse};
use super::grpc::ExtractInstance;
use crate::Gate;
use crate::audit::AuditSink;

/// What every clone of the service shares.
pub(crate) struct Shared {
    pub(crate) gate: Gate,
    pub(crate) make_denial: Arc<dyn MakeDenialResponse>,
    pub(crate) clock: fn() -> SystemTime,
    pub(crate) audit: Option<Arc<dyn AuditSink>>,
    pub(crate) extract_instance: Option<Arc<dyn ExtractInstance>>,
}

impl Shared {
    pub(crate) fn new(gate: Gate) -> Self {
        Self {
            gate,
            make_denial: Arc::new(DefaultDenial),
            clock: SystemTime::now,
            audit: None,
            extract_instance: None,
        }
    }
}

impl Clone for Shared {
    fn clone(&self) -> Self {
        Self {
            gate: self.gate.clone(),
            make_denial: Arc::clone(&self.make_denial),
            clock: self.clock,
            audit: self.audit.clone(),
            extract_instance: self.extract_instance.clone(),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("gate", &self.gate)
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
    /// A layer enforcing a [`Policy`] (or `Arc<Policy>`), or serving from
    /// a [`Gate`] whose policy can be replaced and whose licenses can be
    /// revoked while serving.
    pub fn new(gate: impl Into<Gate>) -> Self {
        Self {
            shared: Arc::new(Shared::new(gate.into())),
        }
    }

    /// Replaces the denial response (the typed [`Denial`](super::Denial) is
    /// still put into the response's extensions).
    #[must_use]
    pub fn with_denial_response(mut self, make: impl MakeDenialResponse) -> Self {
        Arc::make_mut(&mut self.shared).make_denial = Arc::new(make);
        self
    }

    /// Replaces the clock license times and dated rules are checked against
    /// (tests, replay).
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        Arc::make_mut(&mut self.shared).clock = clock;
        self
    }

    /// Sends one [`AuditRecord`](crate::audit::AuditRecord) per request to
    /// `sink` (for example an [`AuditQueue`](crate::audit::AuditQueue)).
    /// The sink is called on the request path and must not block.
    #[must_use]
    pub fn with_audit(mut self, sink: impl AuditSink) -> Self {
        Arc::make_mut(&mut self.shared).audit = Some(Arc::new(sink));
        self
    }

    /// Reads the instance type and count from the first message of gRPC
    /// provisioning calls (routes with `body = "grpc"`). Without one, such
    /// calls must name the instance type in metadata, and the handler must
    /// provision only what [`ExportTags`](super::ExportTags) names.
    #[must_use]
    pub fn with_instance_extractor(mut self, extract: impl ExtractInstance) -> Self {
        Arc::make_mut(&mut self.shared).extract_instance = Some(Arc::new(extract));
        self
    }

    /// The gate: the policy in force and the state beside it.
    pub fn gate(&self) -> &Gate {
        &self.shared.gate
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
