//! Dead letters: an event that failed every delivery, republished to its stream's dead-letter
//! subject with its headers — trace context included, so the dead letter stays in the order's
//! trace — plus why it failed.

use super::{HandlerError, Stream};
use async_nats::{HeaderMap, jetstream};

/// Republishes a message that failed every delivery to `stream`'s dead-letter subject, keeping its
/// headers (and so its trace context) and adding why it failed. Returns whether the stream
/// stored it: if not, the message stays where it is and comes back, so it is never dropped.
pub(super) async fn publish(
    jetstream: &jetstream::Context,
    stream: Stream,
    message: &jetstream::Message,
    error: &HandlerError,
) -> bool {
    let mut headers = HeaderMap::new();
    let mut original_id = None;
    for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
        // The original id would make the stream drop this copy as a duplicate.
        if *name == async_nats::header::NATS_MESSAGE_ID {
            original_id = values.first().map(|v| v.as_str().to_owned());
            continue;
        }
        for value in values {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(id) = original_id {
        headers.insert(async_nats::header::NATS_MESSAGE_ID, format!("dlq-{id}"));
    }
    headers.insert("dlq-reason", error.to_string());
    headers.insert("dlq-original-subject", message.subject.as_str());
    let published = async {
        jetstream
            .publish_with_headers(stream.dead_letter_subject, headers, message.payload.clone())
            .await?
            .await
    }
    .await;
    match published {
        Ok(_) => {
            tracing::warn!(
                subject = stream.dead_letter_subject,
                "message dead-lettered"
            );
            true
        }
        Err(error) => {
            tracing::error!(%error, "dead-lettering failed; the message will come back");
            false
        }
    }
}
