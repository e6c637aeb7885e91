//! Request and response bodies: the client's body (streamed, or the bytes
//! already read on provisioning routes), and the inner service's body or
//! our own denial bytes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::read::strip_trailer_forgeries;
use crate::Policy;

pin_project! {
    /// A body passed through, or bytes the layer holds.
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Passed { #[pin] body: B },
        Held { data: Option<Bytes>, trailers: Option<HeaderMap> },
        // Bytes read from the body, then the rest of it.
        Prefixed { data: Option<Bytes>, body: Pin<Box<B>> },
    }
}

impl<B> Kind<B> {
    fn held(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Kind::Held {
            data: (!data.is_empty()).then_some(data),
            trailers,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Kind<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project() {
            KindProj::Passed { body } => body.poll_frame(cx),
            KindProj::Held { data, trailers } => Poll::Ready(
                data.take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(Frame::trailers))
                    .map(Ok),
            ),
            KindProj::Prefixed { data, body } => match data.take() {
                Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                None => body.as_mut().poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Kind::Passed { body } => body.is_end_stream(),
            Kind::Held { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Prefixed { data, body } => data.is_none() && body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Kind::Passed { body } => body.size_hint(),
            Kind::Held { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Prefixed { data, body } => {
                let read = data.as_ref().map_or(0, |d| d.len() as u64);
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(read));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(read));
                }
                hint
            }
        }
    }
}

macro_rules! wrapper_body {
    ($(#[$doc:meta])* $name:ident) => {
        pin_project! {
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name<B> {
                #[pin]
                kind: Kind<B>,
            }
        }

        impl<B: Body<Data = Bytes>> Body for $name<B> {
            type Data = Bytes;
            type Error = B::Error;

            fn poll_frame(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
                self.project().kind.poll_frame(cx)
            }

            fn is_end_stream(&self) -> bool {
                self.kind.is_end_stream()
            }

            fn size_hint(&self) -> SizeHint {
                self.kind.size_hint()
            }
        }
    };
}

pin_project! {
    /// The request body the inner service receives: the client's body, or,
    /// on provisioning routes, exactly the bytes the layer read from it;
    /// its trailers without what could forge a tag (as the headers).
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        kind: Kind<B>,
        // Whose input header names trailers still to come lose; `None`
        // when none can come (the body had ended, or its trailers were
        // cleaned as it was read).
        policy: Option<Arc<Policy>>,
    }
}

impl<B: Body<Data = Bytes>> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.kind.poll_frame(cx));
        let Some(Ok(frame)) = frame else {
            return Poll::Ready(frame);
        };
        let frame = match (frame.into_trailers(), this.policy.as_ref()) {
            (Ok(mut trailers), Some(policy)) => {
                strip_trailer_forgeries(&mut trailers, &policy.http().input_headers());
                Frame::trailers(trailers)
            }
            (Ok(trailers), None) => Frame::trailers(trailers),
            (Err(frame), _) => frame,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.kind.size_hint()
    }
}

wrapper_body! {
    /// The response body: the inner service's, or a denial the layer wrote.
    ResponseBody
}

impl<B: Body> RequestBody<B> {
    /// The client's body, its trailers cleaned of `policy`'s input names.
    /// A body that has already ended keeps no policy: it has no trailers to
    /// come (and a headers-only request shares nothing more per request).
    pub(crate) fn streaming(body: B, policy: &Arc<Policy>) -> Self {
        let policy = (!body.is_end_stream()).then(|| Arc::clone(policy));
        Self {
            kind: Kind::Passed { body },
            policy,
        }
    }
}

impl<B> RequestBody<B> {
    /// The bytes read from a provisioning body, and its trailers, if it
    /// had any, cleaned of `policy`'s input names now.
    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>, policy: &Policy) -> Self {
        let trailers = trailers.map(|mut trailers| {
            strip_trailer_forgeries(&mut trailers, &policy.http().input_headers());
            trailers
        });
        Self {
            kind: Kind::held(data, trailers),
            policy: None,
        }
    }

    /// The bytes read from the start of a body, then the rest of it.
    pub(crate) fn prefixed(data: Bytes, body: Pin<Box<B>>, policy: Arc<Policy>) -> Self {
        Self {
            kind: Kind::Prefixed {
                data: (!data.is_empty()).then_some(data),
                body,
            },
            policy: Some(policy),
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Passed { body },
        }
    }

    pub(crate) fn denial(data: Bytes) -> Self {
        Self {
            kind: Kind::held(data, None),
        }
    }
}
