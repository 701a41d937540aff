//! Frames a connection reads past its in-flight cap: while the server's
//! handlers wait for their peer's answers, those answers must be read, or
//! both sides wait for ever.

use super::connection::Outgoing;
use crate::{
    jsonrpc::{
        CallContext, ErrorObject, Id, Response,
        wire::parse::{Entry, Incoming},
    },
    server::connection::AtCap,
};

/// Reads past the cap while the handlers' client of the peer has calls in
/// flight: answers from the peer are routed, requests are answered with a
/// limit error at once.
pub(super) struct PastCap {
    pub(super) context: CallContext,
    pub(super) max_in_flight: usize,
}

impl PastCap {
    fn refuse(&self, id: Id) -> Response {
        Response::error(
            id,
            ErrorObject::new(
                ErrorObject::LIMIT_EXCEEDED,
                format!(
                    "too many requests in flight on this connection (the limit is {}) while \
                     the server waits for answers to its own calls; try again",
                    self.max_in_flight
                ),
            ),
        )
    }

    /// The answer to one message, if it gets one.
    fn entry(&self, entry: Entry) -> Option<Response> {
        match entry {
            Entry::Invalid(id, error) => Some(Response::error(id, error)),
            Entry::Response(response) => {
                if let Some(engine) = self.context.peer_engine() {
                    engine.with_matching(|calls, slots, wake| calls.answer(response, slots, wake));
                }
                None
            }
            Entry::Request(request) => match request.id() {
                Some(id) => Some(self.refuse(id.clone())),
                None => {
                    tracing::warn!(
                        method = request.method(),
                        limit = self.max_in_flight,
                        "a notification was dropped: too many requests in flight"
                    );
                    None
                }
            },
        }
    }
}

impl AtCap<Incoming, Outgoing> for PastCap {
    fn read_past(&self) -> bool {
        self.context
            .peer_engine()
            .is_some_and(|engine| engine.in_flight() > 0)
    }

    fn answer(&mut self, frame: Incoming) -> Option<Outgoing> {
        match frame {
            Incoming::Invalid(error) => Some(Outgoing::One(Response::error(Id::null(), error))),
            Incoming::Single(entry) => self.entry(entry).map(Outgoing::One),
            Incoming::Batch(entries) => {
                let answers: Vec<_> = entries.into_iter().filter_map(|e| self.entry(e)).collect();
                (!answers.is_empty()).then_some(Outgoing::Batch(answers))
            }
        }
    }
}
