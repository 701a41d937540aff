//! The server's side of the wire: frames in, parsed into requests (with the
//! policy for bad input), answers out (with the answer size limit).

use std::io;

use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::connection::Outgoing;
use crate::jsonrpc::{
    CallContext, ErrorObject, Id, Response,
    service::subscription::Registry,
    wire::parse::{Entry, Incoming, find_in_line, id_in_head, parse_incoming},
};
use crate::{
    client,
    codec::{JsonCodec, JsonFrame, JsonFraming},
};

/// Decodes a connection's frames into requests, and encodes its answers.
pub(super) struct ServerCodec {
    codec: JsonCodec,
    /// The connection's subscriptions, which start once the answer that
    /// opened them is written.
    subscriptions: Registry,
    /// Whose calls to the peer fail once the peer's input ends.
    context: CallContext,
    max_batch_size: usize,
    bad_input: BadInput,
    answers: Answers,
    /// The peer ends its values with a newline (as every JSON-RPC client
    /// does): each request is then read from its line in one pass, the
    /// envelope parse finding where it ends, rather than framed by the
    /// scanner first and parsed after.
    lines: bool,
}

/// What the server does about messages that are not requests.
#[derive(Clone, Copy, Debug)]
pub(super) struct BadInputPolicy {
    /// Close after answering a message that is not JSON, as geth does.
    pub(super) close_on_parse_error: bool,
    /// Close after this many messages in a row that held no request.
    pub(super) max_in_a_row: usize,
}

/// Counts the bad messages in a row, and decides when to give up.
struct BadInput {
    policy: BadInputPolicy,
    in_a_row: usize,
    /// Why the connection closes, once the last answer is on its way.
    closing: Option<String>,
}

impl ServerCodec {
    pub(super) fn new(
        codec: JsonCodec,
        subscriptions: Registry,
        context: CallContext,
        max_batch_size: usize,
        policy: BadInputPolicy,
        answers: Answers,
    ) -> Self {
        Self {
            codec,
            subscriptions,
            context,
            max_batch_size,
            bad_input: BadInput {
                policy,
                in_a_row: 0,
                closing: None,
            },
            answers,
            lines: true,
        }
    }

    /// The next request (or batch), if the peer ends its values with
    /// newlines and its line has arrived: read in one pass, and split off
    /// `src` only once it is known to be one whole value, which is the frame
    /// the framing would have cut. Anything else is left to the framing.
    #[inline]
    fn take_line(&mut self, src: &mut BytesMut) -> Option<Incoming> {
        if !self.lines {
            return None;
        }
        let line = self.codec.line_ahead(src)?;
        let Some((found, len)) = find_in_line(&src[..line], self.max_batch_size) else {
            // A value over several lines, several on one, or not JSON.
            self.lines = false;
            return None;
        };
        // The line goes with the frame, its newline too, which the framing
        // would otherwise skip before the next value.
        let mut frame = src.split_to(line + 1).freeze();
        frame.truncate(len);
        Some(found.in_frame(frame))
    }

    fn incoming(&mut self, frame: Option<JsonFrame>, src: &BytesMut) -> Option<Incoming> {
        let incoming = match frame? {
            JsonFrame::Value(frame) => {
                if let Some(&next) = src.first() {
                    self.lines = next == b'\n' || next == b'\r';
                }
                parse_incoming(frame, self.max_batch_size)
            }
            JsonFrame::TooLarge(err, head) => Incoming::Single(Entry::Invalid(
                id_in_head(&head).unwrap_or_else(Id::null),
                ErrorObject::invalid_request(err),
            )),
        };
        Some(incoming)
    }

    #[inline]
    fn judged(&mut self, mut incoming: Incoming) -> Incoming {
        if let Incoming::Single(Entry::Request(_)) = &incoming {
            // The common case, without the call.
            self.bad_input.in_a_row = 0;
        } else {
            self.bad_input.judge(&mut incoming);
        }
        incoming
    }

    /// After the answer that gave up on the peer: no more requests.
    fn check_open(&self) -> io::Result<()> {
        match &self.bad_input.closing {
            None => Ok(()),
            Some(why) => Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())),
        }
    }
}

impl BadInput {
    /// Counts `incoming` if it holds no request; the message that makes the
    /// server give up says so in its error answer.
    fn judge(&mut self, incoming: &mut Incoming) {
        let error = match incoming {
            Incoming::Invalid(error) | Incoming::Single(Entry::Invalid(_, error)) => error,
            Incoming::Batch(entries) => {
                match entries.iter_mut().try_fold(None, |_, entry| match entry {
                    Entry::Invalid(_, error) => Ok(Some(error)),
                    Entry::Request(_) | Entry::Response(_) => Err(()),
                }) {
                    Ok(Some(last)) => last,
                    _ => {
                        self.in_a_row = 0;
                        return;
                    }
                }
            }
            Incoming::Single(Entry::Request(_) | Entry::Response(_)) => {
                self.in_a_row = 0;
                return;
            }
        };
        self.in_a_row += 1;
        let why = if self.policy.close_on_parse_error && error.code() == ErrorObject::PARSE_ERROR {
            "the message is not JSON".to_owned()
        } else if self.in_a_row >= self.policy.max_in_a_row {
            format!(
                "{} messages in a row held no request (the limit is {})",
                self.in_a_row, self.policy.max_in_a_row
            )
        } else {
            return;
        };
        *error = ErrorObject::new(
            error.code(),
            format!("{}; closing the connection: {why}", error.message()),
        );
        tracing::debug!(reason = %why, "closing a connection after bad input");
        self.closing = Some(format!("bad input: {why}"));
    }
}

impl Decoder for ServerCodec {
    type Item = Incoming;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Incoming>> {
        self.check_open()?;
        let incoming = match self.take_line(src) {
            Some(incoming) => Some(incoming),
            None => {
                let frame = self.codec.decode_frame(src)?;
                self.incoming(frame, src)
            }
        };
        Ok(incoming.map(|incoming| self.judged(incoming)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Incoming>> {
        self.check_open()?;
        let frame = self.codec.decode_frame_eof(src)?;
        if frame.is_none()
            && let Some(engine) = self.context.peer_engine()
        {
            // The peer will answer nothing more: the handlers' calls to it
            // fail now rather than wait for ever.
            engine.lose(&client::Error::closed(), std::iter::empty(), true);
        }
        let incoming = self.incoming(frame, src);
        Ok(incoming.map(|incoming| self.judged(incoming)))
    }
}

impl Encoder<Outgoing> for ServerCodec {
    type Error = io::Error;

    fn encode(&mut self, outgoing: Outgoing, dst: &mut BytesMut) -> io::Result<()> {
        match &outgoing {
            Outgoing::One(answer) => self.subscriptions.settle(answer),
            Outgoing::Batch(answers) => answers.iter().for_each(|a| self.subscriptions.settle(a)),
            Outgoing::Nothing | Outgoing::Pushed(_) => {}
        }
        self.answers.encode(outgoing, dst)
    }
}

/// Writes answers into the connection's write buffer, framed, each within
/// the answer size limit.
#[derive(Clone, Debug)]
pub(super) struct Answers {
    codec: JsonCodec,
    max_size: usize,
}

impl Answers {
    pub(super) fn new(codec: JsonCodec, max_size: usize) -> Self {
        Self { codec, max_size }
    }

    /// Frames `outgoing` into `dst`. An answer over the limit is replaced by
    /// an error answer for its id that names the limit and the size; in a
    /// batch, the largest answers are replaced until the batch fits. The
    /// framing itself is not limited: an error answer must reach its caller.
    pub(super) fn encode(&mut self, outgoing: Outgoing, dst: &mut BytesMut) -> io::Result<()> {
        let max = self.max_size;
        match outgoing {
            Outgoing::Nothing => Ok(()),
            Outgoing::One(answer) => {
                if let Some(len) = answer.result_json_len()
                    && len <= max
                    && self.codec.framing_kind() == JsonFraming::Stream
                {
                    // The common case: a result, framed by a newline.
                    dst.reserve(len + 1);
                    answer.write_json(dst);
                    dst.put_u8(b'\n');
                    return Ok(());
                }
                self.encode_one(answer, dst)
            }
            Outgoing::Batch(answers) => self.codec.encode_with_limit(dst, usize::MAX, |dst| {
                write_batch(answers, dst, max);
                Ok(())
            }),
            Outgoing::Pushed(message) => self.codec.encode_with_limit(dst, usize::MAX, |dst| {
                dst.put_slice(&message);
                Ok(())
            }),
        }
    }

    /// Frames one answer, replaced by an error if it is over the limit.
    fn encode_one(&mut self, answer: Response, dst: &mut BytesMut) -> io::Result<()> {
        let max = self.max_size;
        self.codec.encode_with_limit(dst, usize::MAX, |dst| {
            let start = dst.len();
            answer.write_json(dst);
            let size = dst.len() - start;
            if size > max {
                dst.truncate(start);
                too_large(answer.id().clone(), size, max).write_json(dst);
            }
            Ok(())
        })
    }
}

/// Writes a batch's answers as an array within `max` bytes.
fn write_batch(mut answers: Vec<Response>, dst: &mut BytesMut, max: usize) {
    let start = dst.len();
    let mut sizes = Vec::with_capacity(answers.len());
    put_array(dst, &answers, |size| sizes.push(size));
    let mut total = dst.len() - start;
    if total <= max {
        return;
    }
    // Replace the largest answers with errors until the batch fits; each
    // error is small, bounded by its id.
    let mut order: Vec<usize> = (0..answers.len()).collect();
    order.sort_unstable_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let mut scratch = BytesMut::new();
    for i in order {
        if total <= max {
            break;
        }
        let error = too_large(answers[i].id().clone(), sizes[i], max);
        scratch.clear();
        error.write_json(&mut scratch);
        total = total - sizes[i] + scratch.len();
        answers[i] = error;
    }
    dst.truncate(start);
    put_array(dst, &answers, |_| {});
}

/// Writes `[a,b,...]`, telling `size` each answer's length.
fn put_array(dst: &mut BytesMut, answers: &[Response], mut size: impl FnMut(usize)) {
    dst.put_u8(b'[');
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            dst.put_u8(b',');
        }
        let before = dst.len();
        answer.write_json(dst);
        size(dst.len() - before);
    }
    dst.put_u8(b']');
}

/// The error answer for an answer of `size` bytes over the limit `max`.
fn too_large(id: Id, size: usize, max: usize) -> Response {
    Response::error(
        id,
        ErrorObject::new(
            ErrorObject::RESPONSE_TOO_LARGE,
            format!("Response too large: {size} bytes exceed the limit of {max}"),
        ),
    )
}
