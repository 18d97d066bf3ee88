//! The hostile requests of `dcr-dev abuse`, by category. Each generator turns an index into
//! one case (deterministically, from the run's seed): the bytes to send, where, and whether the
//! connection may carry more requests afterwards.

mod content;
mod framing;
mod h2;
mod portal;
mod tls;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use dcr_core::jose::SigningKey;

/// Where a case is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Raw TCP to the API's TLS port: bytes that are not (or not only) a TLS handshake.
    ApiRaw,
    /// HTTP/2 frames over TLS (ALPN `h2`, with the client certificate) to the API listener.
    ApiH2,
    /// HTTP over TLS to the API listener, with or without the client certificate.
    Api {
        /// Present the client certificate.
        cert: bool,
    },
    /// HTTP to the portal listener (plain in development).
    Portal,
}

/// One hostile request.
pub(crate) struct Case {
    /// What it is, for the report of unexpected answers.
    pub label: String,
    /// Where it goes.
    pub target: Target,
    /// Everything written.
    pub bytes: Vec<u8>,
    /// On a connection of its own, closed afterwards (framing the server may not resynchronise
    /// after); otherwise on the worker's keep-alive connection.
    pub fresh: bool,
    /// Shut down the write side after sending (the server sees the end of the stream).
    pub half_close: bool,
    /// Sent incomplete and left: the server's own deadline must end it.
    pub stall: bool,
    /// A HEAD request (the answer has no body).
    pub head: bool,
}

impl Case {
    fn new(label: impl Into<String>, target: Target, bytes: Vec<u8>) -> Self {
        Self {
            label: label.into(),
            target,
            bytes,
            fresh: false,
            half_close: false,
            stall: false,
            head: false,
        }
    }

    fn fresh(mut self) -> Self {
        self.fresh = true;
        self
    }

    fn half_close(mut self) -> Self {
        self.fresh = true;
        self.half_close = true;
        self
    }

    fn stall(mut self) -> Self {
        self.fresh = true;
        self.stall = true;
        self
    }
}

/// A small deterministic generator (xorshift64*): the same seed gives the same run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[3]).collect()
    }

    /// Between `lo` and `hi` random bytes.
    pub(crate) fn some_bytes(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let n = self.between(lo, hi);
        self.bytes(n)
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// What the generators need to know about the run.
pub(crate) struct Ctx {
    /// `Host` of the API listener.
    pub api_host: String,
    /// `Host` of the portal listener.
    pub portal_host: String,
    /// A real ClientHello of the dev client.
    pub client_hello: Vec<u8>,
    /// A signed-in portal session (`dcr_session=…`), if the run signed in.
    pub session: Option<String>,
    /// A key no one registered, for well-formed signatures on nonsense.
    pub stranger: SigningKey,
    /// The issuer (`aud` of the signed nonsense).
    pub issuer: String,
}

/// A generator of one category.
pub(crate) type Generate = fn(&Ctx, usize, &mut Rng) -> Case;

/// The categories, their share of the run (per 10,000) and their generators.
pub(crate) const CATEGORIES: &[(&str, usize, Generate)] = &[
    ("api/tls: raw TCP garbage", 500, tls::garbage),
    ("api/tls: truncated ClientHello", 500, tls::truncated_hello),
    ("api/tls: garbled ClientHello", 500, tls::garbled_hello),
    ("api/tls: plaintext HTTP", 300, tls::plaintext),
    ("api/h2: malformed frames", 300, h2::frames),
    ("api: bad request lines", 500, framing::api_request_line),
    ("api: huge headers", 300, framing::api_huge_headers),
    ("api: too many headers", 300, framing::api_many_headers),
    ("api: invalid header bytes", 500, framing::api_header_bytes),
    ("api: bad Content-Length", 400, framing::api_content_length),
    ("api: bad chunked encoding", 400, framing::api_chunked),
    ("api: oversized bodies", 200, framing::api_oversized),
    ("api: malformed bodies", 600, content::api_malformed_body),
    ("api: malformed JWTs", 900, content::api_jwt),
    ("api: malformed JSON", 500, content::api_json),
    ("api: wrong methods", 400, content::api_method),
    ("api: wrong content types", 400, content::api_content_type),
    ("api: bad credentials and ids", 300, content::api_auth),
    ("portal: malformed HTTP", 600, portal::portal_http),
    ("portal: sign-in form", 500, portal::portal_sign_in),
    ("portal: server functions", 600, portal::portal_server_fn),
    ("portal: pages, cookies, paths", 500, portal::portal_pages),
];

/// An HTTP/1.1 request: `Content-Length` is added when there is a body.
fn request(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A POST of `body` as `content_type`.
fn post(host: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    request("POST", path, host, &[("Content-Type", content_type)], body)
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn api(cert: bool) -> Target {
    Target::Api { cert }
}

/// Paths of the API listener.
const API_PATHS: &[&str] = &[
    "/register",
    "/token",
    "/arrangements/revoke",
    "/cds-au/v1/admin/register/metadata",
    "/healthz",
    "/readyz",
    "/jwks",
    "/.well-known/openid-configuration",
    "/openapi.json",
];
/// Paths of the portal listener (one that does not exist).
const PORTAL_PATHS: &[&str] = &[
    "/login",
    "/auth/login",
    "/api/registrations",
    "/registrations",
    "/audit",
    "/overview?days=90",
    "/webhooks",
    "/webhooks/1/retry",
    "/",
];

/// `Content-Type` of a form.
const FORM: &str = "application/x-www-form-urlencoded";
