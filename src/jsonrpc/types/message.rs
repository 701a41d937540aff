use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::{ErrorObject, Request, Response};
use crate::jsonrpc::wire::parse::parse_message;

/// One JSON-RPC message, as one frame holds it: what a peer sends and
/// receives, in either direction.
///
/// For users of a [`JsonCodec`](crate::codec::JsonCodec) alone: parse each
/// frame with [`parse`](Self::parse), write each message with
/// [`to_bytes`](Self::to_bytes), and never handle `serde_json::Value`s.
///
/// ```
/// use bytes::Bytes;
/// use tower_ipc::jsonrpc::{Id, Message, Request, Response};
///
/// let frame = Bytes::from_static(br#"{"jsonrpc":"2.0","id":7,"method":"add","params":[1,2]}"#);
/// let Message::Request(request) = Message::parse(frame)? else { panic!("a request") };
/// let (a, b): (i64, i64) = request.params().parse()?;
///
/// let answer = Message::from(Response::result(request.id().unwrap().clone(), &(a + b)));
/// assert_eq!(answer.to_bytes(), r#"{"jsonrpc":"2.0","id":7,"result":3}"#);
///
/// let log = Message::from(Request::new("window/logMessage").with_params(&["hi"])?);
/// assert!(matches!(log, Message::Notification(_)));
/// # Ok::<(), tower_ipc::jsonrpc::ErrorObject>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Message {
    /// A request: it has an id and expects an answer.
    Request(Request),
    /// A notification: a request without an id, never answered.
    Notification(Request),
    /// The answer to a request.
    Response(Response),
    /// Several messages in one frame (a batch of requests, or the answers to
    /// one).
    Batch(Vec<Message>),
}

impl Message {
    /// Reads one frame. Ids, params and results stay slices of the frame,
    /// not copies. The `jsonrpc` member is not checked, so peers that leave
    /// it out are understood.
    ///
    /// # Errors
    ///
    /// An [`ErrorObject::PARSE_ERROR`] for a frame that is not JSON, an
    /// [`ErrorObject::INVALID_REQUEST`] for JSON that is no message (saying
    /// what is wrong, and for a batch which element): the error a server
    /// answers such a frame with.
    pub fn parse(frame: impl Into<Bytes>) -> Result<Self, ErrorObject> {
        parse_message(&frame.into())
    }

    /// The message as the bytes of one frame (without the framing).
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.write_json(&mut dst);
        dst.freeze()
    }

    pub(crate) fn write_json(&self, dst: &mut BytesMut) {
        match self {
            Self::Request(request) | Self::Notification(request) => request.write_json(dst),
            Self::Response(response) => response.write_json(dst),
            Self::Batch(messages) => {
                dst.put_u8(b'[');
                for (i, message) in messages.iter().enumerate() {
                    if i > 0 {
                        dst.put_u8(b',');
                    }
                    message.write_json(dst);
                }
                dst.put_u8(b']');
            }
        }
    }
}

impl From<Request> for Message {
    /// A request, or a notification if it has no id.
    fn from(request: Request) -> Self {
        if request.is_notification() {
            Self::Notification(request)
        } else {
            Self::Request(request)
        }
    }
}

impl From<Response> for Message {
    fn from(response: Response) -> Self {
        Self::Response(response)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(request) | Self::Notification(request) => request.fmt(f),
            Self::Response(response) => response.fmt(f),
            Self::Batch(messages) => f.debug_list().entries(messages).finish(),
        }
    }
}
