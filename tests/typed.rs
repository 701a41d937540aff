//! Typed messages over real sockets and pipes: `TypedCodec` on the client,
//! `TypedServer` on the server, each format in each framing.
#![cfg(all(feature = "json", feature = "postcard"))]

mod support;

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower::{Service, ServiceExt, service_fn};
use tower_ipc::{
    Client,
    codec::{JsonCodec, JsonFraming, LengthPrefixed, PipeMessageCodec},
    typed::{DecodeError, Format, Json, Postcard, Rejected, Reply, TypedCodec, TypedServer},
};

use support::{PATIENCE, endpoint};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Request {
    Put { key: String, value: u64 },
    Get(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Response {
    Stored,
    Value(Option<u64>),
}

fn store()
-> impl Service<Request, Response = Response, Error = io::Error, Future: Send> + Clone + Send + 'static
{
    let map = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    service_fn(move |request: Request| {
        let map = map.clone();
        async move {
            let mut map = map.lock().unwrap();
            Ok(match request {
                Request::Put { key, value } => {
                    map.insert(key, value);
                    Response::Stored
                }
                Request::Get(key) => Response::Value(map.get(&key).copied()),
            })
        }
    })
}

/// Serves the store with `codec` in `F`, and runs a put and a get through a
/// `Client` over a real endpoint.
async fn round_trip<C, F>(codec: C)
where
    C: Decoder<Error = io::Error>
        + Encoder<<C as Decoder>::Item, Error = io::Error>
        + Clone
        + Send
        + Unpin
        + 'static,
    <C as Decoder>::Item: tower_ipc::typed::Frame + Send + 'static,
    F: Format,
{
    let endpoint = endpoint("typed");
    let listener = endpoint.bind().await.unwrap();
    let server = TypedServer::<_, F, Request>::new(codec.clone());
    tokio::spawn(tower_ipc::serve(listener, server, store()).into_future());

    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    let mut client: Client<Request, Reply<Response>> =
        Client::new(Framed::new(stream, TypedCodec::<_, F, _, _>::new(codec)));
    let put = Request::Put {
        key: "a".into(),
        value: 7,
    };
    let stored = client.ready().await.unwrap().call(put).await.unwrap();
    assert_eq!(stored, Ok(Response::Stored));
    let value = client.ready().await.unwrap().call(Request::Get("a".into()));
    assert_eq!(value.await.unwrap(), Ok(Response::Value(Some(7))));
}

#[tokio::test]
async fn postcard_in_length_prefixed_frames_round_trips() {
    round_trip::<_, Postcard>(LengthPrefixed::new()).await;
}

#[tokio::test]
async fn json_in_length_prefixed_frames_round_trips() {
    round_trip::<_, Json>(LengthPrefixed::new()).await;
}

#[tokio::test]
async fn postcard_in_pipe_messages_round_trips() {
    round_trip::<_, Postcard>(PipeMessageCodec::new()).await;
}

#[tokio::test]
async fn json_in_each_json_framing_round_trips() {
    for framing in [
        JsonFraming::Stream,
        JsonFraming::Ndjson,
        JsonFraming::ContentLength,
    ] {
        round_trip::<_, Json>(JsonCodec::new().framing(framing)).await;
    }
}

#[tokio::test]
async fn an_undecodable_request_is_answered_and_the_connection_goes_on() {
    let endpoint = endpoint("typed-bad");
    let listener = endpoint.bind().await.unwrap();
    let server = TypedServer::<_, Postcard, Request>::new(LengthPrefixed::new());
    tokio::spawn(tower_ipc::serve(listener, server, store()).into_future());

    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    let mut raw = Framed::new(stream, LengthPrefixed::new());
    // Variant 9 of `Request` does not exist.
    raw.send(Bytes::from_static(&[9, 1, 2])).await.unwrap();
    let answer = raw.next().await.unwrap().unwrap();
    let reply: Reply<Response> = postcard::from_bytes(&answer).unwrap();
    let rejected = reply.unwrap_err();
    assert_eq!(rejected.code(), Rejected::INVALID_REQUEST);
    let message = rejected.message();
    assert!(
        message.contains("3-byte postcard frame") && message.contains("typed::Request"),
        "{message}"
    );

    // The same connection still serves.
    let get = postcard::to_allocvec(&Request::Get("nothing".into())).unwrap();
    raw.send(Bytes::from(get)).await.unwrap();
    let answer = raw.next().await.unwrap().unwrap();
    let reply: Reply<Response> = postcard::from_bytes(&answer).unwrap();
    assert_eq!(reply, Ok(Response::Value(None)));
}

#[test]
fn a_frame_that_does_not_decode_names_the_type_and_the_size() {
    let mut codec = TypedCodec::<_, Json, Response, Request>::new(LengthPrefixed::new());
    let mut wire = BytesMut::new();
    LengthPrefixed::new()
        .encode(Bytes::from_static(b"{\"Nope\":1}"), &mut wire)
        .unwrap();
    LengthPrefixed::new()
        .encode(Bytes::from_static(b"\"Stored\""), &mut wire)
        .unwrap();
    let err = codec.decode(&mut wire).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let inner = err
        .get_ref()
        .unwrap()
        .downcast_ref::<DecodeError>()
        .unwrap();
    assert_eq!(inner.size(), 10);
    assert_eq!(inner.format(), "json");
    assert!(inner.type_name().ends_with("Response"), "{inner}");
    assert!(err.to_string().contains("10-byte json frame"), "{err}");
    // The bad frame was consumed; the next decodes.
    assert_eq!(codec.decode(&mut wire).unwrap(), Some(Response::Stored));
}

#[test]
fn postcard_refuses_trailing_bytes() {
    let mut codec = TypedCodec::<_, Postcard, u8, u8>::new(LengthPrefixed::new());
    let mut wire = BytesMut::new();
    LengthPrefixed::new()
        .encode(Bytes::from_static(&[1, 2]), &mut wire)
        .unwrap();
    let err = codec.decode(&mut wire).unwrap_err();
    assert!(err.to_string().contains("1 bytes left over"), "{err}");
}

#[tokio::test]
async fn a_request_over_the_frame_limit_fails_that_call_only() {
    let endpoint = endpoint("typed-big");
    let listener = endpoint.bind().await.unwrap();
    let server = TypedServer::<_, Postcard, Request>::new(LengthPrefixed::new());
    tokio::spawn(tower_ipc::serve(listener, server, store()).into_future());

    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    let codec = TypedCodec::<_, Postcard, _, _>::new(LengthPrefixed::new().max_frame_length(16));
    let mut client: Client<Request, Reply<Response>> = Client::new(Framed::new(stream, codec));
    let big = Request::Put {
        key: "k".repeat(100),
        value: 1,
    };
    let err = client.ready().await.unwrap().call(big).await.unwrap_err();
    assert!(err.is_encode(), "{err}");
    let small = client.ready().await.unwrap().call(Request::Get("k".into()));
    assert_eq!(small.await.unwrap(), Ok(Response::Value(None)));
}
