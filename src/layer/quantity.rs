//! Counting a licensed provisioning request against its license's
//! quantity in the gate's ledger: reserve before the inner service is
//! called, confirm when it provisioned, release when it did not.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderName, Response};

use crate::ledger::{Ledger, ReservationId, ReservationRequest, Reserved};
use crate::metrics;
use crate::verdict::{Quantity, Verdict};

/// The header clients retry a request with; a retried request counts once.
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A reservation this request made: confirmed or released once the inner
/// service answers, released if the request is abandoned.
pub(crate) struct Held {
    ledger: Arc<dyn Ledger>,
    license: Arc<str>,
    id: ReservationId,
    settled: bool,
}

impl Held {
    /// Confirms the reservation if the inner service provisioned, else
    /// releases it. A confirm the ledger cannot take is logged; reconcile
    /// mends it.
    pub(crate) fn settle(mut self, provisioned: bool) -> Settling {
        self.settled = true;
        let ledger = Arc::clone(&self.ledger);
        let license = Arc::clone(&self.license);
        let id = self.id.clone();
        Box::pin(async move {
            let started = metrics::timed().then(Instant::now);
            let (operation, result) = if provisioned {
                ("confirm", ledger.confirm(&license, &id).await.map(drop))
            } else {
                ("release", ledger.release(&license, &id).await.map(drop))
            };
            if let Some(started) = started {
                let outcome = if result.is_ok() { "ok" } else { "error" };
                metrics::ledger(operation, outcome, started.elapsed());
            }
            if let Err(e) = result {
                tracing::error!(
                    target: "tower_export_control::audit",
                    reservation = id.as_str(),
                    license = &*license,
                    provisioned,
                    "license ledger not updated: {e}"
                );
            }
        })
    }
}

/// Confirming or releasing a reservation.
pub(crate) type Settling = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Whether the inner service provisioned: a 2xx answer, and for gRPC no
/// error status in the headers (a trailers-only error).
pub(crate) fn provisioned<B, E>(response: &Result<Response<B>, E>) -> bool {
    response.as_ref().is_ok_and(|r| {
        let grpc_ok = r
            .headers()
            .get("grpc-status")
            .is_none_or(|s| s.as_bytes() == b"0");
        r.status().is_success() && grpc_ok
    })
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.settled {
            self.ledger.release_detached(&self.license, &self.id);
        }
    }
}

/// Counts a verdict that lets a licensed request through, when the license
/// has a quantity: reserves it, or turns the verdict into a refusal
/// (`license_quantity_exhausted`, or `ledger_unavailable` when the ledger
/// cannot answer). A verdict with nothing to count is returned as it is.
pub(crate) async fn count(
    ledger: &Arc<dyn Ledger>,
    verdict: Verdict,
    customer: Option<&str>,
    headers: &HeaderMap,
) -> (Verdict, Option<Held>) {
    let Some((license, limit, accelerators)) = verdict.to_count() else {
        return (verdict, None);
    };
    let license: Arc<str> = Arc::from(license);
    let customer = customer.unwrap_or_default();
    let id = reservation_id(&verdict, customer, headers);
    let request = ReservationRequest::new(
        id.clone(),
        Arc::clone(&license),
        customer,
        verdict.instance_type().unwrap_or_default(),
        accelerators,
        limit,
    );
    let started = metrics::timed().then(Instant::now);
    let reserved = ledger.reserve(request).await;
    if let Some(started) = started {
        let outcome = match &reserved {
            Ok(Reserved::Granted(_)) => "granted",
            Ok(Reserved::Existing(_)) => "existing",
            Ok(Reserved::Exhausted { .. }) => "exhausted",
            Err(_) => "error",
        };
        metrics::ledger("reserve", outcome, started.elapsed());
    }
    match reserved {
        Ok(Reserved::Granted(reservation)) => {
            let held = Held {
                ledger: Arc::clone(ledger),
                license,
                id,
                settled: false,
            };
            (verdict.reserved(reservation), Some(held))
        }
        // A retry of a request already counted: whoever made the
        // reservation confirms or releases it.
        Ok(Reserved::Existing(reservation)) => (verdict.reserved(reservation), None),
        Ok(Reserved::Exhausted {
            limit,
            in_use,
            requested,
        }) => {
            let quantity = Quantity {
                limit,
                in_use,
                requested,
            };
            (verdict.quantity_exhausted(quantity), None)
        }
        Err(e) => (verdict.ledger_unavailable(&e), None),
    }
}

/// The customer and the request's `Idempotency-Key` (so a client's retries
/// count once), or the decision id.
fn reservation_id(verdict: &Verdict, customer: &str, headers: &HeaderMap) -> ReservationId {
    let keyed = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|key| ReservationId::new(&format!("{customer}/{key}")).ok());
    keyed.unwrap_or_else(|| ReservationId::of_decision(verdict.decision_id()))
}
