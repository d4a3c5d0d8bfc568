//! One accepted TCP connection, shared between hyper and the server loop: hyper reads and writes
//! requests through it, and when hyper gives up on a request head that came too slowly (its
//! header-read timeout), the loop still holds the socket and answers 408 before closing it —
//! when part of a head did arrive; a connection that sent nothing is just closed.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// The whole 408 answer, with the JSON error body every answer has — without a trace: no request
/// was parsed, so none began.
fn timeout_answer() -> String {
    let body = crate::ErrorBody::new("request headers not received in time");
    let body = serde_json::to_string(&body).expect("an error body serialises");
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A connection's socket and how much of it has been read.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    stream: Arc<TcpStream>,
    read: Arc<AtomicUsize>,
    /// `read` when the last request was answered: bytes past it belong to the next request.
    answered_at: Arc<AtomicUsize>,
}

impl Shared {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream: Arc::new(stream),
            read: Arc::default(),
            answered_at: Arc::default(),
        }
    }

    /// Marks a request as answered.
    pub(crate) fn answered(&self) {
        self.answered_at
            .store(self.read.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Answers 408 if part of a request head has come since the last answer. Best effort, for
    /// at most a second: the connection is closed right after either way.
    pub(crate) async fn time_out(&self) {
        if self.read.load(Ordering::Relaxed) <= self.answered_at.load(Ordering::Relaxed) {
            return;
        }
        let write = async {
            let answer = timeout_answer();
            let mut rest = answer.as_bytes();
            while !rest.is_empty() {
                self.stream.writable().await?;
                match self.stream.try_write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            }
            Ok::<_, io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
    }
}

impl AsyncRead for Shared {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    self.read.fetch_add(n, Ordering::Relaxed);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The socket closes when the last holder drops it, right after hyper is done.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::timeout_answer;

    #[test]
    fn the_408_answer_says_its_length_right() {
        let answer = timeout_answer();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(body["error"].is_string());
    }
}
