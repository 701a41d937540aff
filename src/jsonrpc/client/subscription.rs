use std::{
    fmt,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll},
};

use futures::Stream;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::{
    CallError, JsonRpcClient,
    matching::{Command, End, Item, SubscriptionId},
    request_json,
};
use crate::jsonrpc::ErrorObject;

/// The items of a subscription opened with
/// [`JsonRpcClient::subscribe`], parsed into `T`.
///
/// The stream ends after an error: the server ended the subscription (see
/// [`Overflow`](crate::jsonrpc::Overflow)), this consumer fell behind its
/// buffer, or the connection closed. Dropping it unsubscribes.
pub struct SubscriptionStream<T> {
    /// As the server wrote it: a string's text, or a number.
    id: String,
    /// Its JSON, as the server wrote it.
    json: SubscriptionId,
    items: mpsc::Receiver<Item>,
    client: JsonRpcClient,
    unsubscribe: Box<str>,
    /// Unsubscribed, or ended by the server or the connection.
    over: bool,
    _items: PhantomData<fn() -> T>,
}

impl<T> SubscriptionStream<T> {
    pub(super) fn new(
        json: SubscriptionId,
        items: mpsc::Receiver<Item>,
        client: JsonRpcClient,
        unsubscribe: Box<str>,
    ) -> Self {
        let id = serde_json::from_str::<String>(&json).unwrap_or_else(|_| json.to_string());
        Self {
            id,
            json,
            items,
            client,
            unsubscribe,
            over: false,
            _items: PhantomData,
        }
    }

    /// The subscription id the server gave: a string's text, or a number
    /// (some servers, parity's among them, issue numbers).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `[id]`, with the id as the server wrote it.
    fn params(&self) -> Vec<u8> {
        format!("[{}]", self.json).into_bytes()
    }

    /// Ends the subscription and waits for the server to confirm; `true` if
    /// the server still had it.
    ///
    /// # Errors
    ///
    /// As [`JsonRpcClient::call`].
    pub async fn unsubscribe(mut self) -> Result<bool, CallError> {
        self.over = true;
        let params = self.params();
        let response = self
            .client
            .send_call(&self.unsubscribe, Some(&params), Some(self.json.clone()))
            .await?;
        super::reply::parsed_into(response)
    }
}

impl<T: DeserializeOwned> Stream for SubscriptionStream<T> {
    type Item = Result<T, CallError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = match self.items.poll_recv(cx) {
            Poll::Ready(Some(item)) => item,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(Some(match item {
            Ok(json) => serde_json::from_slice(&json).map_err(CallError::Serde),
            Err(end) => {
                self.over = true;
                self.items.close();
                Err(match end {
                    End::Server(error) => CallError::Rpc(error),
                    End::Lagged(buffer) => CallError::Rpc(ErrorObject::new(
                        ErrorObject::LIMIT_EXCEEDED,
                        format!("subscription ended: this consumer fell {buffer} items behind"),
                    )),
                    End::Connection(err) => CallError::Connection(err),
                })
            }
        }))
    }
}

impl<T> Drop for SubscriptionStream<T> {
    fn drop(&mut self) {
        if self.over {
            return;
        }
        // Best effort: if the queue is full or the client gone, the server
        // ends the subscription when the connection closes.
        let id = self.client.next_id();
        let params = self.params();
        self.client.shared.try_queue(Command::Unsubscribe {
            subscription: self.json.clone(),
            id,
            message: request_json(Some(id), &self.unsubscribe, Some(&params)),
        });
    }
}

impl<T> fmt::Debug for SubscriptionStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionStream")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
