//! gRPC provisioning calls: the first message of a call, and the
//! user-supplied [`ExtractInstance`] that reads the instance type from it.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;
use http_body_util::BodyExt;

use crate::ReasonCode;

/// The error an [`ExtractInstance`] returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads the instance type and count from the first message of a gRPC
/// provisioning call (routes with `body = "grpc"`), typically by decoding
/// it as the method's `prost` request type. Implemented for closures
/// `Fn(&str, &[u8]) -> Result<RequestedInstances, BoxError>`, which get the
/// method's path and the message bytes (uncompressed, without the 5-byte
/// gRPC prefix).
///
/// ```
/// use tower_export_control::layer::{ExtractInstance, RequestedInstances};
///
/// // With prost: `CreateInstanceRequest::decode(message)?` and its fields.
/// let extract = |method: &str, message: &[u8]| {
///     assert_eq!(method, "/cloud.v1.Compute/CreateInstance");
///     let text = std::str::from_utf8(message)?;
///     Ok(RequestedInstances::new(text).with_count(2))
/// };
/// let requested = extract.extract("/cloud.v1.Compute/CreateInstance", b"p5.48xlarge").unwrap();
/// assert_eq!(requested.instance_type(), Some("p5.48xlarge"));
/// ```
pub trait ExtractInstance: Send + Sync + 'static {
    /// What the first message of a call to `method` asks for.
    ///
    /// # Errors
    /// When the message cannot be decoded; the call is refused with
    /// `invalid_body` (gRPC `INVALID_ARGUMENT`).
    fn extract(&self, method: &str, message: &[u8]) -> Result<RequestedInstances, BoxError>;
}

impl<F> ExtractInstance for F
where
    F: Fn(&str, &[u8]) -> Result<RequestedInstances, BoxError> + Send + Sync + 'static,
{
    fn extract(&self, method: &str, message: &[u8]) -> Result<RequestedInstances, BoxError> {
        self(method, message)
    }
}

/// What a provisioning message asks for: an instance type (if it names
/// one) and a count (if it names one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestedInstances {
    instance_type: Option<String>,
    count: Option<u32>,
}

impl RequestedInstances {
    /// `instance_type`, count not given.
    pub fn new(instance_type: impl Into<String>) -> Self {
        Self {
            instance_type: Some(instance_type.into()),
            count: None,
        }
    }

    /// A message that names no instance type (the header must, then).
    pub fn unnamed() -> Self {
        Self::default()
    }

    /// With a count.
    #[must_use]
    pub fn with_count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    /// The instance type.
    pub fn instance_type(&self) -> Option<&str> {
        self.instance_type.as_deref()
    }

    /// The count.
    pub fn count(&self) -> Option<u32> {
        self.count
    }

    pub(crate) fn into_parts(self) -> (Option<String>, Option<u32>) {
        (self.instance_type, self.count)
    }
}

/// The 5-byte prefix of a gRPC message: a compression flag and a length.
const PREFIX: usize = 5;

/// The start of a gRPC call's body.
pub(crate) struct FirstMessage {
    /// Every byte read, the first message's prefix included.
    pub(crate) read: Bytes,
    /// The range of the first message in `read`, if the body had one.
    pub(crate) message: Option<std::ops::Range<usize>>,
    /// When the body ended while reading: its trailers, if any.
    pub(crate) ended: Option<Option<HeaderMap>>,
}

impl FirstMessage {
    pub(crate) fn message(&self) -> Option<&[u8]> {
        self.read.get(self.message.clone()?)
    }
}

/// Reads a gRPC body up to the end of its first message (at most `limit`
/// bytes of message). Refuses compressed messages: their content is not
/// what the layer could read.
pub(crate) async fn read_first_message<B>(
    body: &mut B,
    limit: usize,
) -> Result<FirstMessage, (ReasonCode, &'static str)>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut buf = BytesMut::new();
    let mut ended = None;
    let mut wanted = None;
    loop {
        if wanted.is_none()
            && let Some(prefix) = buf.get(..PREFIX)
        {
            let [flag, a, b, c, d] = [0, 1, 2, 3, 4].map(|i| prefix.get(i).copied().unwrap_or(0));
            if flag != 0 {
                return Err((ReasonCode::InvalidBody, COMPRESSED));
            }
            let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
            if len > limit {
                return Err((ReasonCode::BodyTooLarge, TOO_LARGE));
            }
            wanted = Some(PREFIX + len);
        }
        if wanted.is_some_and(|w| buf.len() >= w) {
            break;
        }
        match body.frame().await {
            None => {
                ended = Some(None);
                break;
            }
            Some(Err(_)) => return Err((ReasonCode::InvalidBody, UNREADABLE)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => buf.extend_from_slice(&data),
                Err(frame) => {
                    ended = Some(frame.into_trailers().ok());
                    break;
                }
            },
        }
    }
    let message = match wanted {
        Some(end) if buf.len() >= end => Some(PREFIX..end),
        None if buf.is_empty() => None,
        _ => return Err((ReasonCode::InvalidBody, TRUNCATED)),
    };
    Ok(FirstMessage {
        read: buf.freeze(),
        message,
        ended,
    })
}

const COMPRESSED: &str = "The first gRPC message of a provisioning call is compressed; \
     send provisioning calls uncompressed so the layer can read what they ask for.";
const TOO_LARGE: &str = "The first gRPC message is over the provisioning body limit.";
const UNREADABLE: &str = "The request body could not be read.";
const TRUNCATED: &str = "The request body ends inside its first gRPC message.";
