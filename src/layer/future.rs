//! The response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::decision::Denied;
use super::quantity::{Held, Settling, provisioned};

/// The body-reading (and counting) phase of a provisioning request: yields
/// the inner service's output with the reservation it holds, or the denial
/// response.
pub(crate) type Reading<O> =
    Pin<Box<dyn Future<Output = Result<(O, Option<Held>), Denied>> + Send>>;

pin_project! {
    /// Response future of [`ExportControl`](super::ExportControl).
    ///
    /// # Panics
    /// When polled again after it completed, as futures may.
    pub struct ResponseFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        Inner { #[pin] future: F },
        Reading { future: Reading<F::Output> },
        // The inner service answered; the ledger is told before the answer
        // goes out.
        Settling { output: Option<F::Output>, settle: Settling },
        Denied { response: Option<Denied> },
        Done,
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn reading(future: Reading<F::Output>) -> Self {
        Self {
            kind: Kind::Reading { future },
        }
    }

    pub(crate) fn denied(response: Denied) -> Self {
        Self {
            kind: Kind::Denied {
                response: Some(response),
            },
        }
    }
}

fn denial<B>(response: Response<Bytes>) -> Response<ResponseBody<B>> {
    response.map(ResponseBody::denial)
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let wrap = |r: Response<B>| r.map(ResponseBody::inner);
        let mut this = self.project();
        loop {
            let output = match this.kind.as_mut().project() {
                KindProj::Inner { future } => ready!(future.poll(cx)).map(wrap),
                KindProj::Reading { future } => match ready!(future.as_mut().poll(cx)) {
                    Ok((output, None)) => output.map(wrap),
                    Ok((output, Some(held))) => {
                        let settle = held.settle(provisioned(&output));
                        let output = Some(output);
                        this.kind.set(Kind::Settling { output, settle });
                        continue;
                    }
                    Err(response) => Ok(denial(*response)),
                },
                KindProj::Settling { output, settle } => {
                    ready!(settle.as_mut().poll(cx));
                    match output.take() {
                        Some(output) => output.map(wrap),
                        None => polled_after_completion(),
                    }
                }
                KindProj::Denied { response } => match response.take() {
                    Some(response) => Ok(denial(*response)),
                    None => polled_after_completion(),
                },
                KindProj::Done => polled_after_completion(),
            };
            this.kind.set(Kind::Done);
            return Poll::Ready(output);
        }
    }
}

// A caller bug, not an input: fail loudly, as tower-http's futures do.
#[allow(clippy::panic)]
fn polled_after_completion() -> ! {
    panic!("tower_export_control::ResponseFuture polled after completion")
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Reading { .. } => "reading-body",
            Kind::Settling { .. } => "settling-reservation",
            Kind::Denied { .. } => "denied",
            Kind::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
