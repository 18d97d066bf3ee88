//! Reading what a server answers, leniently: an HTTP/1.1 response (a length, chunks or the end
//! of the connection), or, on a connection that should not have carried HTTP, a TLS alert, an
//! HTTP/2 GOAWAY or a close, each as an [`Outcome`].

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// What the server did with a request or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// It answered with this status.
    Status(u16),
    /// It closed the connection without an answer.
    Closed,
    /// It reset the connection (or the write side broke).
    Reset,
    /// It sent a TLS alert (or a handshake failed on one).
    TlsAlert,
    /// It ended an HTTP/2 connection with a GOAWAY frame.
    GoAway,
    /// It said nothing within the client's patience, connection still open.
    Timeout,
    /// It answered with something that is not HTTP.
    Garbled,
    /// The connection could not be opened at all.
    ConnectFailed,
}

impl Outcome {
    /// The column the outcome is counted in: `2xx`, `4xx`, `5xx`, `closed`, `reset`, …
    #[must_use]
    pub fn class(self) -> &'static str {
        match self {
            Self::Status(s) => match s / 100 {
                1 => "1xx",
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                5 => "5xx",
                _ => "garbled",
            },
            Self::Closed => "closed",
            Self::Reset => "reset",
            Self::TlsAlert => "tls-alert",
            Self::GoAway => "goaway",
            Self::Timeout => "timeout",
            Self::Garbled => "garbled",
            Self::ConnectFailed => "connect-failed",
        }
    }

    /// The outcome of an I/O error on a connection.
    #[must_use]
    pub fn of_error(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        if let Some(rustls::Error::AlertReceived(_)) =
            e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Self::TlsAlert;
        }
        match e.kind() {
            K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted => Self::Reset,
            K::TimedOut => Self::Timeout,
            K::ConnectionRefused => Self::ConnectFailed,
            // rustls reports a peer that closed without close_notify as UnexpectedEof.
            K::UnexpectedEof => Self::Closed,
            _ => Self::Reset,
        }
    }
}

/// An HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines (lower-cased names).
    pub headers: Vec<(String, String)>,
    /// The body (decoded from chunked when it was).
    pub body: Vec<u8>,
    /// Whether the connection can carry another request.
    pub reusable: bool,
}

impl Response {
    /// The first value of header `name` (lower case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The longest response head read.
const MAX_HEAD: usize = 64 * 1024;
/// The longest response body read.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Why a response could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended (or broke) after `got` bytes.
    Io {
        /// The error; `UnexpectedEof` for a clean close.
        error: std::io::Error,
        /// Bytes read before it.
        got: usize,
    },
    /// The bytes were not an HTTP response; the first one is kept (a TLS alert record starts
    /// with 0x15).
    Garbled(u8),
}

impl ReadError {
    /// What the server did.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Io { error, .. } if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Outcome::Closed
            }
            Self::Io { error, .. } => Outcome::of_error(error),
            Self::Garbled(0x15) => Outcome::TlsAlert,
            Self::Garbled(_) => Outcome::Garbled,
        }
    }
}

/// A buffered reader over any stream.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    got: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            got: 0,
        }
    }

    /// Gives the stream back (any bytes read ahead are dropped).
    pub fn into_inner(self) -> R {
        self.inner
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        match self.inner.read(&mut chunk).await {
            Ok(0) => Err(ReadError::Io {
                error: std::io::ErrorKind::UnexpectedEof.into(),
                got: self.got,
            }),
            Ok(n) => {
                self.got += n;
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(error) => Err(ReadError::Io {
                error,
                got: self.got,
            }),
        }
    }

    async fn line(&mut self, limit: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > limit {
                return Err(ReadError::Garbled(self.buf[0]));
            }
            self.fill().await?;
        }
    }

    async fn exact(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads one response (skipping `100 Continue`); `head_only` for an answer to HEAD.
    ///
    /// # Errors
    /// The connection ended or broke first, or the bytes were not HTTP.
    pub async fn response(&mut self, head_only: bool) -> Result<Response, ReadError> {
        loop {
            if self.buf.is_empty() {
                self.fill().await?;
            }
            if !self.buf.starts_with(b"HTTP/")
                && !b"HTTP/".starts_with(&self.buf[..self.buf.len().min(5)])
            {
                return Err(ReadError::Garbled(self.buf[0]));
            }
            let status_line = self.line(MAX_HEAD).await?;
            let status = std::str::from_utf8(&status_line)
                .ok()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or(ReadError::Garbled(b'H'))?;
            let mut headers = Vec::new();
            loop {
                let line = self.line(MAX_HEAD).await?;
                if line.is_empty() {
                    break;
                }
                let text = String::from_utf8_lossy(&line);
                if let Some((n, v)) = text.split_once(':') {
                    headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            if status == 100 {
                continue;
            }
            let mut res = Response {
                status,
                headers,
                body: Vec::new(),
                reusable: true,
            };
            let close = res
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let chunked = res
                .header("transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            let length = res
                .header("content-length")
                .and_then(|v| v.parse::<usize>().ok());
            if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            } else if chunked {
                loop {
                    let size_line = self.line(1024).await?;
                    let size = std::str::from_utf8(&size_line)
                        .ok()
                        .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
                        .ok_or(ReadError::Garbled(b'0'))?;
                    if size == 0 {
                        while !self.line(MAX_HEAD).await?.is_empty() {}
                        break;
                    }
                    if res.body.len() + size > MAX_BODY {
                        return Err(ReadError::Garbled(b'0'));
                    }
                    let data = self.exact(size + 2).await?;
                    res.body.extend_from_slice(&data[..size]);
                }
            } else if let Some(n) = length {
                if n > MAX_BODY {
                    return Err(ReadError::Garbled(b'0'));
                }
                res.body = self.exact(n).await?;
            } else {
                // Delimited by the end of the connection.
                loop {
                    match self.fill().await {
                        Ok(()) if self.buf.len() <= MAX_BODY => {}
                        Ok(()) => return Err(ReadError::Garbled(b'0')),
                        Err(ReadError::Io { error, .. })
                            if error.kind() == std::io::ErrorKind::UnexpectedEof =>
                        {
                            break
                        }
                        Err(e) => return Err(e),
                    }
                }
                res.body = std::mem::take(&mut self.buf);
                res.reusable = false;
            }
            if close {
                res.reusable = false;
            }
            return Ok(res);
        }
    }

    async fn until_eof(&mut self) -> Result<(), ReadError> {
        loop {
            self.fill().await?;
            self.buf.clear();
        }
    }

    /// Reads HTTP/2 frames until a GOAWAY or the end of the connection.
    pub async fn h2_until_close(&mut self) -> Outcome {
        loop {
            while self.buf.len() < 9 {
                if let Err(e) = self.fill().await {
                    return e.outcome();
                }
            }
            let length = usize::from(self.buf[0]) << 16
                | usize::from(self.buf[1]) << 8
                | usize::from(self.buf[2]);
            if self.buf[3] == 0x07 {
                return Outcome::GoAway;
            }
            if let Err(e) = self.exact(9 + length).await {
                return e.outcome();
            }
        }
    }

    /// Reads whatever the server sends until it closes, up to `limit` bytes: for a connection
    /// that should never have carried HTTP (TLS garbage), where the answer is an alert or a
    /// close.
    pub async fn until_close(&mut self, limit: usize) -> Outcome {
        loop {
            if let Some(&first) = self.buf.first() {
                if first == 0x15 {
                    return Outcome::TlsAlert;
                }
                if first == 0x16 {
                    // The server took it for a ClientHello and answered; the end of our stream
                    // then ends the handshake.
                    self.buf.clear();
                    let _ = self.until_eof().await;
                    return Outcome::Closed;
                }
                if self.buf.starts_with(b"HTTP/") {
                    return match self.response(false).await {
                        Ok(r) => Outcome::Status(r.status),
                        Err(e) => e.outcome(),
                    };
                }
                if self.buf.len() >= limit {
                    return Outcome::Garbled;
                }
            }
            if let Err(e) = self.fill().await {
                return match (&e, self.buf.first()) {
                    (_, Some(_)) => Outcome::Garbled,
                    _ => e.outcome(),
                };
            }
        }
    }
}

impl<R> Reader<R> {
    /// Whether bytes beyond the last response were read (the connection is out of step).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<Response, ReadError> {
        Reader::new(bytes).response(false).await
    }

    #[tokio::test]
    async fn a_response_with_a_length_leaves_the_connection_usable() {
        let mut r = Reader::new(&b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}"[..]);
        let res = r.response(false).await.unwrap();
        assert_eq!(
            (res.status, res.body.as_slice(), res.reusable),
            (400, &b"{}"[..], true)
        );
        assert!(!r.has_pending());
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_and_interim_answers_skipped() {
        let res = read(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!((res.status, res.body.as_slice()), (200, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn an_answer_that_says_close_or_runs_to_the_end_is_not_reused() {
        let res = read(b"HTTP/1.1 431 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        assert!(!res.reusable);
        let res = read(b"HTTP/1.0 200 OK\r\n\r\nuntil the end").await.unwrap();
        assert_eq!(
            (res.body.as_slice(), res.reusable),
            (&b"until the end"[..], false)
        );
    }

    #[tokio::test]
    async fn what_is_not_http_is_told_apart() {
        let outcome = |r: Result<Response, ReadError>| r.map(|r| r.status).unwrap_err().outcome();
        assert_eq!(outcome(read(b"").await), Outcome::Closed);
        assert_eq!(
            outcome(read(b"HTTP/1.1 200").await),
            Outcome::Closed,
            "cut short"
        );
        assert_eq!(
            outcome(read(b"\x15\x03\x03\x00\x02\x02\x28").await),
            Outcome::TlsAlert
        );
        assert_eq!(outcome(read(b"SSH-2.0-x\r\n").await), Outcome::Garbled);
        let mut r = Reader::new(&b"\x16\x03\x03\x00\x04abcd"[..]);
        assert_eq!(
            r.until_close(1024).await,
            Outcome::Closed,
            "a handshake answer, then EOF"
        );
    }

    #[test]
    fn outcomes_fall_in_their_columns() {
        assert_eq!(Outcome::Status(503).class(), "5xx");
        assert_eq!(Outcome::Status(301).class(), "3xx");
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(Outcome::of_error(&reset).class(), "reset");
    }
}
