//! Sending a case: the worker's keep-alive connections, a fresh connection when the case needs
//! one (TCP, TLS with or without the client certificate, HTTP/2 by ALPN), writing while reading
//! the answer, and what the server did.

use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use super::cases::{Case, Target};
use super::{Env, CONNECT, PATIENCE, STALL_PATIENCE};
use crate::wire::{self, Outcome, ReadError, Reader, Stream};

/// A worker's keep-alive connections.
#[derive(Default)]
pub(super) struct Conns {
    api: Option<Stream>,
    portal: Option<Stream>,
}

impl Conns {
    /// Sends one case and says what the server did (and, for a response, its first bytes).
    pub(super) async fn execute(&mut self, env: &Env, case: &Case) -> (Outcome, String) {
        let patience = if case.stall { STALL_PATIENCE } else { PATIENCE };
        if case.target == Target::ApiRaw {
            return (raw(env, case, patience).await, String::new());
        }
        if case.target == Target::ApiH2 {
            return (h2(env, case, patience).await, String::new());
        }
        let slot = match case.target {
            Target::Portal => &mut self.portal,
            _ => &mut self.api,
        };
        // A kept connection is only for requests framed soundly, and only with the certificate.
        let kept = if case.fresh || case.target == (Target::Api { cert: false }) {
            None
        } else {
            slot.take()
        };
        let reused = kept.is_some();
        let stream = match kept {
            Some(s) => s,
            None => match connect(env, case.target).await {
                Ok(s) => s,
                Err(o) => return (o, "(connecting)".into()),
            },
        };
        let (mut result, mut back) = exchange(stream, case, patience).await;
        // The server may have closed an idle kept connection just before: once more, afresh.
        if reused
            && matches!(
                &result,
                Err(ReadError::Io { got: 0, .. }) | Err(ReadError::Garbled(_))
            )
        {
            match connect(env, case.target).await {
                Ok(s) => (result, back) = exchange(s, case, patience).await,
                Err(o) => return (o, "(reconnecting)".into()),
            }
        }
        match result {
            Ok(res) => {
                if res.reusable && !case.fresh && case.target != (Target::Api { cert: false }) {
                    *slot = back.take();
                }
                let snippet: String = String::from_utf8_lossy(&res.body)
                    .chars()
                    .take(160)
                    .collect();
                (Outcome::Status(res.status), snippet)
            }
            Err(e) if is_timeout(&e) => (Outcome::Timeout, String::new()),
            Err(e) => (e.outcome(), String::new()),
        }
    }
}

fn is_timeout(e: &ReadError) -> bool {
    matches!(e, ReadError::Io { error, .. } if error.kind() == std::io::ErrorKind::TimedOut)
}

async fn connect(env: &Env, target: Target) -> Result<Stream, Outcome> {
    let to = match target {
        Target::Portal => env.portal,
        _ => env.api,
    };
    let tcp = wire::tcp(to, env.source, CONNECT)
        .await
        .map_err(|_| Outcome::ConnectFailed)?;
    match target {
        Target::Portal => Ok(Stream::Tcp(tcp)),
        Target::Api { cert } => {
            let config = if cert {
                env.tls.with_cert.clone()
            } else {
                env.tls.without_cert.clone()
            };
            wire::tls(tcp, config, &env.server_name, CONNECT)
                .await
                .map(|s| Stream::Tls(Box::new(s)))
                .map_err(|e| Outcome::of_error(&e))
        }
        Target::ApiRaw => Ok(Stream::Tcp(tcp)),
        Target::ApiH2 => wire::tls(tcp, env.tls.h2.clone(), &env.server_name, CONNECT)
            .await
            .map(|s| Stream::Tls(Box::new(s)))
            .map_err(|e| Outcome::of_error(&e)),
    }
}

/// Frames on an HTTP/2 connection (TLS, ALPN `h2`); the answer is a GOAWAY, a close or nothing.
async fn h2(env: &Env, case: &Case, patience: Duration) -> Outcome {
    let stream = match connect(env, Target::ApiH2).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let (r, mut w) = tokio::io::split(stream);
    let mut reader = Reader::new(r);
    let write = async {
        w.write_all(&case.bytes).await?;
        if case.half_close {
            w.shutdown().await?;
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(patience, async {
        let (_, outcome) = tokio::join!(write, reader.h2_until_close());
        outcome
    })
    .await
    .unwrap_or(Outcome::Timeout)
}

/// Bytes on a bare TCP connection to the TLS port; the answer is an alert, a close, or nothing.
async fn raw(env: &Env, case: &Case, patience: Duration) -> Outcome {
    let Ok(tcp) = wire::tcp(env.api, env.source, CONNECT).await else {
        return Outcome::ConnectFailed;
    };
    let (r, mut w) = tcp.into_split();
    let mut reader = Reader::new(r);
    let write = async {
        w.write_all(&case.bytes).await?;
        if case.half_close {
            w.shutdown().await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let outcome = tokio::time::timeout(patience, async {
        let (_, outcome) = tokio::join!(write, reader.until_close(16 * 1024));
        outcome
    })
    .await;
    outcome.unwrap_or(Outcome::Timeout)
}

/// Writes a case and reads the answer at the same time (the server may answer before it has
/// read everything, or stop reading); gives the stream back for reuse.
async fn exchange(
    stream: Stream,
    case: &Case,
    patience: Duration,
) -> (Result<wire::Response, ReadError>, Option<Stream>) {
    let (r, mut w) = tokio::io::split(stream);
    let mut reader = Reader::new(r);
    let result = {
        let write = async {
            w.write_all(&case.bytes).await?;
            w.flush().await?;
            if case.half_close {
                w.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let read = reader.response(case.head);
        tokio::pin!(write, read);
        let mut written = false;
        tokio::time::timeout(patience, async {
            loop {
                tokio::select! {
                    res = &mut read => break res,
                    _ = &mut write, if !written => written = true,
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(ReadError::Io {
                error: std::io::ErrorKind::TimedOut.into(),
                got: 0,
            })
        })
    };
    // Bytes past the answer mean the connection is out of step: not for another request.
    let result = result.map(|mut r| {
        r.reusable &= !reader.has_pending();
        r
    });
    let back = reader.into_inner().unsplit(w);
    (result, Some(back))
}

/// A request any client would send, on a connection of its own.
pub(super) async fn normal_request(env: &Env, target: Target, path: &str) -> Outcome {
    let host = match target {
        Target::Portal => env.portal.to_string(),
        _ => format!("{}:{}", env.server_name, env.api.port()),
    };
    let case = Case {
        label: path.into(),
        target,
        bytes: format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .into_bytes(),
        fresh: true,
        half_close: false,
        stall: false,
        head: false,
    };
    let stream = match connect(env, target).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    match exchange(stream, &case, PATIENCE).await.0 {
        Ok(r) => Outcome::Status(r.status),
        Err(e) => e.outcome(),
    }
}
