//! `healthcheck [URL]`: exits 0 when `GET /healthz` answers 200, 1 otherwise.
//!
//! The service images are distroless (no shell, no curl), so Docker's `HEALTHCHECK` runs this
//! instead. Without a URL it probes `http://127.0.0.1:<port of LISTEN_ADDR>/healthz`, so one
//! command fits every service. Standard library only: it must stay tiny.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    process::ExitCode,
    time::Duration,
};

const TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let target = std::env::args()
        .nth(1)
        .map_or_else(default_target, |url| parse_url(&url));
    match target.and_then(|(addr, path)| probe(addr, &path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// `127.0.0.1:<port of LISTEN_ADDR>` and `/healthz`.
fn default_target() -> Result<(SocketAddr, String), String> {
    let listen =
        std::env::var("LISTEN_ADDR").map_err(|_| "LISTEN_ADDR is not set and no URL was given")?;
    let port = listen
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .ok_or_else(|| format!("LISTEN_ADDR {listen:?} has no port"))?;
    Ok((
        SocketAddr::from(([127, 0, 0, 1], port)),
        "/healthz".to_owned(),
    ))
}

/// `http://host:port/path` → the socket address and the path.
fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/"), |(a, p)| (a, p));
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("resolving {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to nothing"))?;
    Ok((addr, path))
}

fn probe(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    // One write: a request split over several packets can be half-read by a server that answers
    // and closes early, and the unread half turns into a connection reset.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending: {e}"))?;
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .map_err(|e| format!("reading: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(format!("{path} answered {status}")),
        None => Err(format!("{path} sent no HTTP status line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server answering `status_line`.
    fn serve_once(status_line: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // Read the whole request head before answering, as a real server does.
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let _ =
                stream.write_all(format!("{status_line}\r\ncontent-length: 0\r\n\r\n").as_bytes());
        });
        addr
    }

    #[test]
    fn healthy_only_on_200() {
        assert_eq!(probe(serve_once("HTTP/1.1 200 OK"), "/healthz"), Ok(()));
        let unhealthy = probe(serve_once("HTTP/1.1 503 Service Unavailable"), "/healthz");
        assert_eq!(unhealthy, Err("/healthz answered 503".to_owned()));
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(probe(addr, "/healthz").is_err());
    }

    #[test]
    fn urls_are_split_into_address_and_path() {
        let (addr, path) = parse_url("http://127.0.0.1:8083/healthz").unwrap();
        assert_eq!((addr.port(), path.as_str()), (8083, "/healthz"));
        assert!(parse_url("https://127.0.0.1/").is_err());
    }
}
