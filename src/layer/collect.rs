//! Reading a request body whole, up to a limit.

use std::future::poll_fn;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;

/// Why a body could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CollectError {
    /// More than the limit arrived.
    TooLarge,
    /// The body failed while arriving.
    Read,
}

/// The body's bytes and trailers, refused once more than `limit` bytes
/// arrive. A body that arrives in one data frame (most small JSON bodies)
/// is kept as it came, without a copy.
pub(crate) async fn collect<B>(
    body: B,
    limit: usize,
) -> Result<(Bytes, Option<HeaderMap>), CollectError>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    let mut trailers: Option<HeaderMap> = None;
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| CollectError::Read)?;
        let frame = match frame.into_data() {
            Ok(data) => {
                len = len.saturating_add(data.len());
                if len > limit {
                    return Err(CollectError::TooLarge);
                }
                match (&first, &mut joined) {
                    _ if data.is_empty() => {}
                    (None, _) => first = Some(data),
                    (Some(head), None) => {
                        let mut all = BytesMut::with_capacity(len);
                        all.extend_from_slice(head);
                        all.extend_from_slice(&data);
                        joined = Some(all);
                    }
                    (Some(_), Some(all)) => all.extend_from_slice(&data),
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(more) = frame.into_trailers() {
            match &mut trailers {
                Some(t) => t.extend(more),
                None => trailers = Some(more),
            }
        }
    }
    let bytes = match joined {
        Some(all) => all.freeze(),
        None => first.unwrap_or_default(),
    };
    Ok((bytes, trailers))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body::Frame;

    use super::*;

    /// A body that yields the frames it was given, or fails at the end.
    struct Frames(VecDeque<Frame<Bytes>>, bool);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            match self.0.pop_front() {
                Some(frame) => Poll::Ready(Some(Ok(frame))),
                None if self.1 => Poll::Ready(Some(Err(std::io::Error::other("reset")))),
                None => Poll::Ready(None),
            }
        }
    }

    fn data(chunks: &[&'static str]) -> Frames {
        let frames = chunks
            .iter()
            .map(|c| Frame::data(Bytes::from_static(c.as_bytes())));
        Frames(frames.collect(), false)
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn one_frame_is_kept_as_it_came() {
        let (bytes, trailers) = run(collect(data(&["{\"a\":1}"]), 100)).unwrap();
        assert_eq!(bytes, "{\"a\":1}");
        assert!(trailers.is_none());
    }

    #[test]
    fn frames_are_joined_in_order_and_empty_ones_skipped() {
        let (bytes, _) = run(collect(data(&["ab", "", "cd", "e"]), 5)).unwrap();
        assert_eq!(bytes, "abcde");
        let (bytes, _) = run(collect(data(&[]), 5)).unwrap();
        assert!(bytes.is_empty());
    }

    #[test]
    fn one_byte_over_the_limit_is_refused() {
        assert_eq!(
            run(collect(data(&["abc", "def"]), 5)),
            Err(CollectError::TooLarge)
        );
        assert_eq!(
            run(collect(data(&["abcdef"]), 5)),
            Err(CollectError::TooLarge)
        );
    }

    #[test]
    fn trailers_are_kept_and_merged() {
        let mut first = HeaderMap::new();
        first.insert("x-a", "1".parse().unwrap());
        let mut second = HeaderMap::new();
        second.insert("x-b", "2".parse().unwrap());
        let mut body = data(&["ab"]);
        body.0.push_back(Frame::trailers(first));
        body.0.push_back(Frame::trailers(second));
        let (bytes, trailers) = run(collect(body, 5)).unwrap();
        assert_eq!(bytes, "ab");
        let trailers = trailers.unwrap();
        assert_eq!(trailers["x-a"], "1");
        assert_eq!(trailers["x-b"], "2");
    }

    #[test]
    fn a_failing_body_is_a_read_error() {
        let mut body = data(&["ab"]);
        body.1 = true;
        assert_eq!(run(collect(body, 5)), Err(CollectError::Read));
    }
}
