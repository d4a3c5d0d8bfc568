//! Events over NATS JetStream, as every service hands them on: an [`Event`] names its stream,
//! subject and type; [`publish`] sends one in a PRODUCER span with the trace context in its
//! headers (the kit's [`shared_tracing::nats`] hop); [`Consumer`] runs a durable pull consumer
//! whose CONSUMER span continues that trace, acks after the handler succeeded, retries, and
//! dead-letters ([`dead_letter`]) after `max_deliver` deliveries. The events themselves are
//! declared in the `contracts` crate.

mod consumer;
mod dead_letter;

pub use consumer::{Consumer, ConsumerSettings, Handler, HandlerError};

use async_nats::jetstream::{self, stream};
use serde::{Serialize, de::DeserializeOwned};
use shared_tracing::nats;
use std::time::Duration;

/// A JetStream stream: its name, the subjects it stores, and where events that keep failing go
/// (with their headers, trace context included, plus `dlq-reason` and `dlq-original-subject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// The stream's name.
    pub name: &'static str,
    /// The subjects it stores, as a NATS wildcard (`orders.>`).
    pub subjects: &'static str,
    /// The dead-letter subject, one of `subjects`.
    pub dead_letter_subject: &'static str,
}

/// An event: its stream, subject and `event_type`, and the message id that makes a republished
/// copy a duplicate the stream drops.
pub trait Event: Serialize + DeserializeOwned {
    /// The stream that stores it.
    const STREAM: Stream;
    /// The subject it is published on.
    const SUBJECT: &'static str;
    /// The `event_type` field of its payload.
    const TYPE: &'static str;
    /// The `Nats-Msg-Id`: one per event, the same for every copy of it.
    fn message_id(&self) -> String;
}

/// The payload as published: the event's fields and its `event_type`.
pub fn payload<E: Event>(event: &E) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a, E> {
        event_type: &'static str,
        #[serde(flatten)]
        event: &'a E,
    }
    serde_json::to_vec(&Envelope {
        event_type: E::TYPE,
        event,
    })
    .expect("events serialise")
}

/// JetStream on `nats_url` — one server, or a cluster's as a comma-separated list (the NATS
/// convention; the client also learns the others from the server it reaches) — for the service
/// `name`. The connection is made in the background (and kept up with reconnects, to any server
/// of the list): a service starts, and serves, while the broker is down.
pub async fn connect(
    nats_url: &str,
    name: &str,
) -> Result<jetstream::Context, async_nats::ConnectError> {
    let servers: Vec<&str> = nats_url.split(',').map(str::trim).collect();
    let nats = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(servers)
        .await?;
    Ok(jetstream::new(nats))
}

/// Creates `stream` unless it exists: file storage, `replicas` copies (`STREAM_REPLICAS`: 3 on a
/// three-node JetStream cluster, so a node can go without losing an event), and a two-minute
/// window in which a republished `Nats-Msg-Id` is dropped as a duplicate.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    stream: Stream,
    replicas: usize,
) -> Result<(), jetstream::context::CreateStreamError> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: stream.name.to_owned(),
            subjects: vec![stream.subjects.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            num_replicas: replicas.max(1),
            ..Default::default()
        })
        .await?;
    tracing::info!(stream = stream.name, "stream ready");
    Ok(())
}

/// Publishes `event` in a PRODUCER span that is a child of the current span.
pub async fn publish<E: Event>(
    jetstream: &jetstream::Context,
    event: &E,
) -> Result<(), jetstream::context::PublishError> {
    let message_id = event.message_id();
    let span = nats::producer_span(E::SUBJECT, &message_id, None);
    nats::publish(jetstream, &span, E::SUBJECT, &message_id, payload(event))
        .await
        .map(|_| ())
}
