//! Audit records through the layer: one per request, with the decision id
//! the client and handler see; a full queue drops and counts.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_export_control::ExportTags;
use tower_export_control::Outcome;
use tower_export_control::audit::{AuditQueue, AuditRecord, AuditSink};
use tower_export_control::{ExportControlLayer, Policy, ReasonCode};

#[derive(Default)]
struct Collect(Mutex<Vec<AuditRecord>>);

impl AuditSink for Collect {
    fn record(&self, record: AuditRecord) {
        self.0.lock().unwrap().push(record);
    }
}

async fn send(layer: &ExportControlLayer, req: Request<Full<Bytes>>) -> Response<Bytes> {
    let svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|req: Request<_>| async move {
            // Echo the decision id the handler saw.
            let id = req
                .extensions()
                .get::<ExportTags>()
                .map(|t| t.decision_id().to_string());
            let mut res = Response::new(Full::new(Bytes::new()));
            if let Some(id) = id {
                res.headers_mut()
                    .insert("seen-decision-id", id.parse().unwrap());
            }
            Ok::<_, Infallible>(res)
        });
    let res = svc.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

fn provision(country: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post("/v1/instances")
        .header("x-customer-id", "cust-1")
        .header("x-customer-country", country)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn one_record_per_request_with_the_visible_decision_id() {
    let sink = Arc::new(Collect::default());
    let layer = {
        let sink = Arc::clone(&sink);
        ExportControlLayer::new(Policy::embedded_default())
            .with_audit(move |record| sink.record(record))
    };

    let allowed = send(
        &layer,
        provision("US", r#"{"instance_type":"p5.48xlarge","count":2}"#),
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let denied = send(
        &layer,
        provision("CN", r#"{"instance_type":"p5.48xlarge"}"#),
    )
    .await;
    assert_eq!(denied.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    let rejected = send(
        &layer,
        provision("XX", r#"{"instance_type":"p5.48xlarge"}"#),
    )
    .await;
    assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
    let malformed = send(&layer, provision("US", "{not json")).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let records = sink.0.lock().unwrap().clone();
    assert_eq!(records.len(), 4, "{records:#?}");
    let [allow, deny, bad_country, bad_body] = &records[..] else {
        unreachable!()
    };

    assert_eq!(allow.outcome, Outcome::Allow);
    assert_eq!(allow.customer_id.as_deref(), Some("cust-1"));
    assert_eq!(allow.instance_count, Some(2));
    assert_eq!(allow.country.map(|c| c.to_string()).as_deref(), Some("US"));
    let seen = allowed.headers()["seen-decision-id"].to_str().unwrap();
    assert_eq!(seen, allow.decision_id.to_string());

    assert_eq!(deny.outcome, Outcome::Deny);
    assert_eq!(deny.reason, Some(ReasonCode::LicenseRequired));
    assert_eq!(deny.rules, vec!["3a090-destination".to_owned()]);
    let body: serde_json::Value = serde_json::from_slice(denied.body()).unwrap();
    assert_eq!(body["decision_id"], deny.decision_id.to_string());

    assert_eq!(bad_country.outcome, Outcome::Rejected);
    assert_eq!(bad_country.reason, Some(ReasonCode::InvalidCountry));
    assert_eq!(bad_body.outcome, Outcome::Rejected);
    assert_eq!(bad_body.reason, Some(ReasonCode::InvalidBody));
    assert_eq!(bad_body.customer_id.as_deref(), Some("cust-1"));

    let mut ids: Vec<_> = records.iter().map(|r| r.decision_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "decision ids are unique");
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let (queue, receiver) = AuditQueue::bounded(2);
    let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(queue.clone());
    for _ in 0..5 {
        let res = send(&layer, provision("US", r#"{"instance_type":"m7i.large"}"#)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(queue.dropped(), 3);
    let kept: Vec<AuditRecord> = receiver.try_iter().collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|r| r.outcome == Outcome::Allow));
    // Records serialize for storage.
    let json = serde_json::to_value(&kept[0]).unwrap();
    assert_eq!(json["outcome"], "allow");
    assert_eq!(json["accelerator_class"], "none");
}

#[test]
fn decision_ids_are_unique_across_threads() {
    use tower_export_control::audit::DecisionId;
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..2000).map(|_| DecisionId::next()).collect::<Vec<_>>()))
        .collect();
    let mut ids: Vec<DecisionId> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all);
    assert!(ids.iter().all(|id| id.to_string().len() == 32));
}
