//! The response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::denial::{Denial, MakeDenialResponse};

/// The body-reading phase of a provisioning request: yields the inner
/// service's output, or a denial.
pub(crate) type Reading<O> = Pin<Box<dyn Future<Output = Result<O, Denial>> + Send>>;

pin_project! {
    /// Response future of [`ExportControl`](super::ExportControl).
    pub struct ResponseFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        Inner { #[pin] future: F },
        Reading { future: Reading<F::Output>, make_denial: Arc<dyn MakeDenialResponse> },
        Denied { denial: Option<Denial>, make_denial: Arc<dyn MakeDenialResponse> },
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn reading(
        future: Reading<F::Output>,
        make_denial: Arc<dyn MakeDenialResponse>,
    ) -> Self {
        Self {
            kind: Kind::Reading {
                future,
                make_denial,
            },
        }
    }

    pub(crate) fn denied(denial: Denial, make_denial: Arc<dyn MakeDenialResponse>) -> Self {
        Self {
            kind: Kind::Denied {
                denial: Some(denial),
                make_denial,
            },
        }
    }
}

fn render<B>(denial: Denial, make: &dyn MakeDenialResponse) -> Response<ResponseBody<B>> {
    let (mut parts, bytes) = make.make_response(&denial).into_parts();
    parts.extensions.insert(denial);
    Response::from_parts(parts, ResponseBody::denial(bytes))
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let wrap = |r: Response<B>| r.map(ResponseBody::inner);
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx).map_ok(wrap),
            KindProj::Reading {
                future,
                make_denial,
            } => match ready!(future.as_mut().poll(cx)) {
                Ok(output) => Poll::Ready(output.map(wrap)),
                Err(denial) => Poll::Ready(Ok(render(denial, &**make_denial))),
            },
            KindProj::Denied {
                denial,
                make_denial,
            } => match denial.take() {
                Some(denial) => Poll::Ready(Ok(render(denial, &**make_denial))),
                // Polled after completion: never resolve again.
                None => Poll::Pending,
            },
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Reading { .. } => "reading-body",
            Kind::Denied { .. } => "denied",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
