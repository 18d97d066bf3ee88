//! HTTP/1.1 framing gone wrong, on either listener: request lines, huge and numerous headers,
//! invalid header bytes, absurd `Content-Length`, bad chunked encoding, oversized bodies.

use super::{api, request, Case, Ctx, Rng, API_PATHS, FORM};

pub(super) fn request_line(
    host: &str,
    paths: &[&str],
    j: usize,
    rng: &mut Rng,
) -> (String, Vec<u8>, bool) {
    let path = *rng.pick(paths);
    let h = format!("Host: {host}\r\n\r\n");
    let (label, line, half): (&str, Vec<u8>, bool) = match j % 20 {
        0 => ("method only", b"GET\r\n\r\n".to_vec(), false),
        1 => (
            "HTTP/9.9",
            format!("GET {path} HTTP/9.9\r\n{h}").into_bytes(),
            false,
        ),
        2 => (
            "four words",
            format!("FOO BAR BAZ QUX\r\n{h}").into_bytes(),
            false,
        ),
        3 => (
            "double spaces",
            format!("GET  {path}  HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        4 => {
            let long = "a".repeat(rng.between(33_000, 100_000));
            (
                "URI of 33-100 KB",
                format!("GET /{long} HTTP/1.1\r\n{h}").into_bytes(),
                false,
            )
        }
        5 => (
            "NUL in the path",
            format!("GET {path}\0x HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        6 => (
            "bad percent-encoding",
            format!("GET {path}/%zz%00%ff HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        7 => (
            "absolute form, another host",
            format!("GET http://evil.example{path} HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        8 => (
            "asterisk form",
            format!("GET * HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        9 => (
            "OPTIONS *",
            format!("OPTIONS * HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        10 => (
            "lower-case method",
            format!("get {path} HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        11 => (
            "leading empty lines",
            format!("\r\n\r\n\r\nGET {path} HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        12 => {
            let mut b = rng.some_bytes(1, 200);
            b.extend_from_slice(b"\r\n\r\n");
            ("binary request line", b, false)
        }
        13 => (
            "bare LF",
            format!("GET {path} HTTP/1.1\nHost: {host}\n\n").into_bytes(),
            false,
        ),
        14 => (
            "UTF-8 in the path",
            format!("GET /régistér/ü HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        15 => (
            "dot segments",
            format!("GET /../../../../etc/passwd HTTP/1.1\r\n{h}").into_bytes(),
            false,
        ),
        16 => {
            let m = "X".repeat(rng.between(100, 10_000));
            (
                "long method",
                format!("{m} {path} HTTP/1.1\r\n{h}").into_bytes(),
                false,
            )
        }
        17 => (
            "no end of line",
            format!("GET {path} HTTP/1.1").into_bytes(),
            true,
        ),
        18 => {
            let q = "&a=b".repeat(rng.between(100, 7_000));
            (
                "long query",
                format!("GET {path}?{q} HTTP/1.1\r\n{h}").into_bytes(),
                false,
            )
        }
        _ => (
            "HTTP/1.0 without Host",
            format!("GET {path} HTTP/1.0\r\n\r\n").into_bytes(),
            false,
        ),
    };
    (label.to_string(), line, half)
}

pub(super) fn huge_headers(
    host: &str,
    paths: &[&str],
    j: usize,
    rng: &mut Rng,
) -> (String, Vec<u8>) {
    let path = *rng.pick(paths);
    let size = *rng.pick(&[33_000usize, 64 * 1024, 256 * 1024, 1024 * 1024]);
    let big = "v".repeat(size);
    let (label, header) = match j % 5 {
        0 => ("one huge value", format!("X-Big: {big}")),
        1 => ("huge cookie", format!("Cookie: dcr_session={big}")),
        2 => ("huge header name", format!("{}: v", "N".repeat(size))),
        3 => ("huge authorization", format!("Authorization: Bearer {big}")),
        _ => ("huge user agent", format!("User-Agent: {big}")),
    };
    (
        format!("{label} ({size} bytes)"),
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{header}\r\n\r\n").into_bytes(),
    )
}

pub(super) fn many_headers(host: &str, paths: &[&str], rng: &mut Rng) -> (String, Vec<u8>) {
    let path = *rng.pick(paths);
    let n = *rng.pick(&[99usize, 100, 101, 200, 1000, 5000]);
    let mut out = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    for i in 0..n {
        out.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    (format!("{n} headers"), out)
}

pub(super) fn header_bytes(
    host: &str,
    paths: &[&str],
    j: usize,
    rng: &mut Rng,
) -> (String, Vec<u8>) {
    let path = *rng.pick(paths);
    let start = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    let (label, extra): (&str, Vec<u8>) = match j % 16 {
        0 => ("NUL in a value", b"X-A: a\0b\r\n".to_vec()),
        1 => ("bare CR in a value", b"X-A: a\rb\r\n".to_vec()),
        2 => ("space in a name", b"Bad Name: x\r\n".to_vec()),
        3 => ("line without a colon", b"NoColonHere\r\n".to_vec()),
        4 => ("obsolete line folding", b"X-A: a\r\n  folded\r\n".to_vec()),
        5 => ("non-ASCII name", "Ünicode: x\r\n".as_bytes().to_vec()),
        6 => ("DEL in a value", b"X-A: a\x7fb\r\n".to_vec()),
        7 => ("high bytes in a value", b"X-A: \xff\xfe\xfd\r\n".to_vec()),
        8 => ("empty name", b": x\r\n".to_vec()),
        9 => ("second Host", b"Host: evil.example\r\n".to_vec()),
        10 => (
            "two Content-Lengths",
            b"Content-Length: 5\r\nContent-Length: 6\r\n".to_vec(),
        ),
        11 => (
            "Content-Length and chunked",
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n".to_vec(),
        ),
        12 => (
            "control bytes in the interaction id",
            b"x-fapi-interaction-id: \x01\x02\x03\r\n".to_vec(),
        ),
        13 => (
            "high bytes in authorization",
            b"Authorization: Bearer \xc3\x28\xa0\xa1\r\n".to_vec(),
        ),
        14 => (
            "NUL in the content type",
            b"Content-Type: application/jwt\0x\r\n".to_vec(),
        ),
        _ => ("random header bytes", {
            let mut b = rng.some_bytes(1, 300);
            b.extend_from_slice(b"\r\n");
            b
        }),
    };
    let mut out = start.into_bytes();
    out.extend(extra);
    if !matches!(j % 16, 10 | 11) {
        out.extend_from_slice(b"Content-Length: 5\r\n");
    }
    out.extend_from_slice(b"\r\nhello");
    (label.to_string(), out)
}

pub(super) fn content_length(
    host: &str,
    paths: &[&str],
    j: usize,
    rng: &mut Rng,
) -> (String, Vec<u8>, bool) {
    let path = *rng.pick(paths);
    let head = |cl: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\n\
             Content-Length: {cl}\r\n\r\n"
        )
    };
    let (label, cl, body, half): (&str, String, Vec<u8>, bool) = match j % 12 {
        0 => (
            "overflowing",
            "99999999999999999999999".into(),
            b"a=b".to_vec(),
            false,
        ),
        1 => ("negative", "-1".into(), b"a=b".to_vec(), false),
        2 => ("not a number", "abc".into(), b"a=b".to_vec(), false),
        3 => ("exponent", "1e3".into(), b"a=b".to_vec(), false),
        4 => ("hexadecimal", "0x10".into(), b"a=b".to_vec(), false),
        5 => ("plus sign", "+3".into(), b"a=b".to_vec(), false),
        6 => ("list of two", "3, 4".into(), b"a=b".to_vec(), false),
        7 => (
            "10 GB declared, 3 bytes sent",
            "10000000000".into(),
            b"a=b".to_vec(),
            true,
        ),
        8 => {
            let n = rng.between(10, 60_000);
            (
                "longer than the body, then end of stream",
                n.to_string(),
                b"a=b".to_vec(),
                true,
            )
        }
        9 => (
            "3 MB declared, 3 bytes sent",
            "3000000".into(),
            b"a=b".to_vec(),
            true,
        ),
        10 => ("zero with a body", "0".into(), b"a=b&c=d".to_vec(), false),
        _ => (
            "shorter than the body",
            "1".into(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            false,
        ),
    };
    let mut out = head(&cl).into_bytes();
    out.extend(body);
    (label.to_string(), out, half)
}

/// A chunked body gone wrong; `true` when it is incomplete (the stream must then end, or the
/// server would wait for the rest).
pub(super) fn chunked(
    host: &str,
    paths: &[&str],
    j: usize,
    rng: &mut Rng,
) -> (String, Vec<u8>, bool) {
    let path = *rng.pick(paths);
    let head = |te: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/jwt\r\n\
             Transfer-Encoding: {te}\r\n\r\n"
        )
    };
    let (label, te, body): (&str, &str, Vec<u8>) = match j % 12 {
        0 => (
            "size not hex",
            "chunked",
            b"zz\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        1 => (
            "size overflowing",
            "chunked",
            b"ffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        2 => (
            "negative size",
            "chunked",
            b"-1\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        3 => (
            "huge extension",
            "chunked",
            format!(
                "3;{}\r\nabc\r\n0\r\n\r\n",
                "e".repeat(rng.between(5_000, 100_000))
            )
            .into_bytes(),
        ),
        4 => (
            "no CRLF after data",
            "chunked",
            b"3\r\nabcdef0\r\n\r\n".to_vec(),
        ),
        5 => (
            "data shorter than its size",
            "chunked",
            b"100\r\nabc".to_vec(),
        ),
        6 => (
            "garbage trailer",
            "chunked",
            b"3\r\nabc\r\n0\r\n\x01\x02garbage\r\n\r\n".to_vec(),
        ),
        7 => (
            "gzip, chunked",
            "gzip, chunked",
            b"3\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        8 => (
            "chunked, identity",
            "chunked, identity",
            b"3\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        9 => ("xchunked", "xchunked", b"3\r\nabc\r\n0\r\n\r\n".to_vec()),
        10 => {
            let n = rng.between(5_000, 70_000);
            let mut b = b"1\r\na\r\n".repeat(n);
            b.extend_from_slice(b"0\r\n\r\n");
            ("thousands of one-byte chunks", "chunked", b)
        }
        _ => ("no last chunk", "chunked", b"3\r\nabc\r\n".to_vec()),
    };
    let mut out = head(te).into_bytes();
    out.extend(body);
    (label.to_string(), out, matches!(j % 12, 5 | 11))
}

pub(super) fn api_request_line(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (label, bytes, half) = request_line(&ctx.api_host, API_PATHS, j, rng);
    let c = Case::new(label, api(true), bytes);
    if half {
        c.half_close()
    } else {
        c.fresh()
    }
}

pub(super) fn api_huge_headers(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (label, bytes) = huge_headers(&ctx.api_host, API_PATHS, j, rng);
    Case::new(label, api(true), bytes).fresh()
}

pub(super) fn api_many_headers(ctx: &Ctx, _: usize, rng: &mut Rng) -> Case {
    let (label, bytes) = many_headers(&ctx.api_host, API_PATHS, rng);
    Case::new(label, api(true), bytes).fresh()
}

pub(super) fn api_header_bytes(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (label, bytes) = header_bytes(&ctx.api_host, API_PATHS, j, rng);
    Case::new(label, api(true), bytes).fresh()
}

pub(super) fn api_content_length(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (label, bytes, short) = content_length(
        &ctx.api_host,
        &["/register", "/token", "/arrangements/revoke", "/healthz"],
        j,
        rng,
    );
    let c = Case::new(label, api(true), bytes);
    if short {
        c.half_close()
    } else {
        c.fresh()
    }
}

pub(super) fn api_chunked(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (label, bytes, incomplete) = chunked(
        &ctx.api_host,
        &["/register", "/token", "/cds-au/v1/admin/register/metadata"],
        j,
        rng,
    );
    let c = Case::new(label, api(true), bytes);
    if incomplete {
        c.half_close()
    } else {
        c.fresh()
    }
}

pub(super) fn api_oversized(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let path = *rng.pick(&[
        "/register",
        "/token",
        "/arrangements/revoke",
        "/cds-au/v1/admin/register/metadata",
    ]);
    let size = *rng.pick(&[
        64 * 1024 + 1,
        256 * 1024,
        1024 * 1024,
        3 * 1024 * 1024,
        4 * 1024 * 1024 + 1,
        6 * 1024 * 1024,
    ]);
    let body = vec![b'a'; size];
    let host = &ctx.api_host;
    let ct = match path {
        "/register" => "application/jwt",
        "/cds-au/v1/admin/register/metadata" => "application/json",
        _ => FORM,
    };
    let (label, bytes) = if j.is_multiple_of(3) {
        let mut b = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ct}\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for part in body.chunks(16 * 1024) {
            b.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            b.extend_from_slice(part);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"0\r\n\r\n");
        (format!("{size} bytes, chunked, to {path}"), b)
    } else {
        (
            format!("{size} bytes to {path}"),
            request("POST", path, host, &[("Content-Type", ct)], &body),
        )
    };
    Case::new(label, api(true), bytes).fresh()
}
