//! The portal: malformed HTTP, the sign-in form, server functions (with a real session and
//! forged ones), pages, cookies and paths.

use super::framing::{
    chunked, content_length, header_bytes, huge_headers, many_headers, request_line,
};
use super::{request, uuid, Case, Ctx, Rng, Target, FORM, PORTAL_PATHS};

pub(super) fn portal_http(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let host = &ctx.portal_host;
    let (label, bytes, half) = match j % 6 {
        0 => request_line(host, PORTAL_PATHS, j / 6, rng),
        1 => {
            let (l, b) = huge_headers(host, PORTAL_PATHS, j / 6, rng);
            (l, b, false)
        }
        2 => {
            let (l, b) = many_headers(host, PORTAL_PATHS, rng);
            (l, b, false)
        }
        3 => {
            let (l, b) = header_bytes(host, PORTAL_PATHS, j / 6, rng);
            (l, b, false)
        }
        4 => content_length(
            host,
            &["/auth/login", "/api/registrations", "/account/password"],
            j / 6,
            rng,
        ),
        _ => chunked(host, &["/auth/login", "/api/registrations"], j / 6, rng),
    };
    let c = Case::new(label, Target::Portal, bytes);
    if half {
        c.half_close()
    } else {
        c.fresh()
    }
}

fn same_origin(ctx: &Ctx) -> Vec<(&'static str, String)> {
    vec![
        ("Sec-Fetch-Site", "same-origin".into()),
        ("Origin", format!("http://{}", ctx.portal_host)),
    ]
}

fn portal_request(
    ctx: &Ctx,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request(method, path, &ctx.portal_host, &h, body)
}

pub(super) fn portal_sign_in(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let mut headers = same_origin(ctx);
    headers.push(("Content-Type", FORM.into()));
    let user = format!("nobody-{}", rng.below(1_000_000));
    let (label, method, body): (&str, &str, Vec<u8>) = match j % 18 {
        0 => ("empty form", "POST", Vec::new()),
        1 => (
            "username only",
            "POST",
            format!("username={user}").into_bytes(),
        ),
        2 => ("password only", "POST", b"password=x".to_vec()),
        3 => (
            "bad percent-encoding",
            "POST",
            b"username=%zz&password=%".to_vec(),
        ),
        4 => (
            "1 MB username",
            "POST",
            format!("username={}&password=x", "u".repeat(1024 * 1024)).into_bytes(),
        ),
        5 => (
            "3 MB form",
            "POST",
            format!("username=u&password={}", "p".repeat(3 * 1024 * 1024)).into_bytes(),
        ),
        6 => (
            "non-UTF-8",
            "POST",
            b"username=%ff%fe&password=\xff\xfe".to_vec(),
        ),
        7 => (
            "repeated fields",
            "POST",
            format!("username={user}&username=admin&password=a&password=b").into_bytes(),
        ),
        8 => (
            "password of 1,025 bytes",
            "POST",
            format!("username={user}&password={}", "p".repeat(1025)).into_bytes(),
        ),
        9 => (
            "password of 100 KB",
            "POST",
            format!("username={user}&password={}", "p".repeat(100_000)).into_bytes(),
        ),
        10 => (
            "SQL in the username",
            "POST",
            b"username=%27%20OR%201%3D1%20--&password=x".to_vec(),
        ),
        11 => (
            "control bytes in the username",
            "POST",
            b"username=a%00b%0d%0ac&password=x".to_vec(),
        ),
        12 => (
            "JSON body",
            "POST",
            br#"{"username":"a","password":"b"}"#.to_vec(),
        ),
        13 => ("GET", "GET", Vec::new()),
        14 => ("PUT", "PUT", b"username=a&password=b".to_vec()),
        15 => ("random bytes", "POST", rng.some_bytes(1, 4_000)),
        16 => (
            "wrong password",
            "POST",
            format!("username={user}&password=wrong-password").into_bytes(),
        ),
        _ => (
            "129-character username",
            "POST",
            format!("username={}&password=x", "u".repeat(129)).into_bytes(),
        ),
    };
    let variant = j % 5;
    let label = match variant {
        0 => {
            headers.retain(|(n, _)| *n != "Sec-Fetch-Site" && *n != "Origin");
            format!("{label}, no origin")
        }
        1 => {
            headers.retain(|(n, _)| *n != "Sec-Fetch-Site");
            headers.retain(|(n, _)| *n != "Origin");
            headers.push(("Origin", "http://evil.example".into()));
            format!("{label}, foreign origin")
        }
        2 if label == "JSON body" => {
            headers.retain(|(n, _)| *n != "Content-Type");
            headers.push(("Content-Type", "application/json".into()));
            label.to_string()
        }
        3 => {
            headers.push((
                "Cookie",
                format!(
                    "dcr_session={}; dcr_signed_in=1",
                    "g".repeat(rng.between(1, 3000))
                ),
            ));
            format!("{label}, forged session cookie")
        }
        _ => label.to_string(),
    };
    let big = body.len() > 64 * 1024;
    let c = Case::new(
        label,
        Target::Portal,
        portal_request(ctx, method, "/auth/login", &headers, &body),
    );
    if big {
        c.fresh()
    } else {
        c
    }
}

pub(super) fn portal_server_fn(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let fns = [
        "registrations",
        "registration",
        "registration-keys",
        "audit",
        "audit-chain",
        "whoami",
        "nonexistent",
        "..%2Fauth%2Flogin",
    ];
    let name = fns[j % fns.len()];
    let mut headers = same_origin(ctx);
    let signed_in = !j.is_multiple_of(5);
    if signed_in {
        if let Some(s) = &ctx.session {
            headers.push(("Cookie", s.clone()));
        }
    } else {
        headers.push((
            "Cookie",
            format!("dcr_session={}", rng.below(1_000_000_000)),
        ));
    }
    let (what, ct, body): (&str, &str, Vec<u8>) = match (j / fns.len()) % 14 {
        0 => ("no arguments", FORM, Vec::new()),
        1 => (
            "page not a number",
            FORM,
            b"q=&status=&sort=&page=abc".to_vec(),
        ),
        2 => (
            "negative page",
            FORM,
            b"q=&status=&sort=&page=-1&client_id=x&actor=&action=&verify=true".to_vec(),
        ),
        3 => (
            "page past u32",
            FORM,
            b"q=&status=&sort=&page=99999999999&client_id=&actor=&action=".to_vec(),
        ),
        4 => (
            "unknown client id",
            FORM,
            format!("client_id={}", uuid()).into_bytes(),
        ),
        5 => (
            "client id of 10 KB",
            FORM,
            format!("client_id={}", "c".repeat(10_000)).into_bytes(),
        ),
        6 => (
            "search of 1 MB",
            FORM,
            format!("q={}&status=&sort=&page=1", "q".repeat(1024 * 1024)).into_bytes(),
        ),
        7 => (
            "JSON body",
            "application/json",
            br#"{"q":"","status":"","sort":"","page":1}"#.to_vec(),
        ),
        8 => (
            "random bytes",
            "application/octet-stream",
            rng.some_bytes(1, 4_000),
        ),
        9 => ("verify not a boolean", FORM, b"verify=maybe".to_vec()),
        10 => (
            "repeated arguments",
            FORM,
            b"page=1&page=2&q=a&q=b&status=x&sort=y".to_vec(),
        ),
        11 => (
            "bad percent-encoding",
            FORM,
            b"q=%zz&status=%&sort=%%&page=1".to_vec(),
        ),
        12 => (
            "filters of every status and sort",
            FORM,
            b"q=%25_%5C&status=revoked%00&sort=name_desc%27&page=1".to_vec(),
        ),
        _ => ("GET with a query", "", Vec::new()),
    };
    if !ct.is_empty() {
        headers.push(("Content-Type", ct.into()));
    }
    if rng.below(6) == 0 {
        headers.push(("Accept", "text/html".into()));
    }
    let path = format!("/api/{name}");
    let bytes = if what == "GET with a query" {
        portal_request(
            ctx,
            "GET",
            &format!("{path}?q=a&page=x&client_id=%00"),
            &headers,
            b"",
        )
    } else {
        portal_request(ctx, "POST", &path, &headers, &body)
    };
    let who = if signed_in {
        "signed in"
    } else {
        "forged session"
    };
    let c = Case::new(format!("{path}: {what} ({who})"), Target::Portal, bytes);
    if body.len() > 64 * 1024 {
        c.fresh()
    } else {
        c
    }
}

pub(super) fn portal_pages(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let id = uuid();
    let long = "x".repeat(rng.between(1_000, 8_000));
    let paths = [
        "/".to_string(),
        "/login".into(),
        format!("/login?error={long}"),
        format!("/?q={long}&status=garbage&sort=..%2F..&page=-1"),
        "/?page=18446744073709551616&status=%00".into(),
        format!("/registrations/{id}"),
        "/registrations/%00".into(),
        "/registrations/..%2F..%2F..%2Fetc%2Fpasswd".into(),
        format!("/audit?client_id={id}&actor=%00&action=x&page=abc"),
        "/account".into(),
        "/pkg/../../etc/passwd".into(),
        "/pkg/%2e%2e/%2e%2e/etc/passwd".into(),
        "/favicon.ico".into(),
        format!("/{}", "deep/".repeat(200)),
        format!("/registrations/{id}/revoke"),
    ];
    let path = &paths[j % paths.len()];
    let mut headers = same_origin(ctx);
    let cookie = match (j / paths.len()) % 5 {
        0 => ctx.session.clone(),
        1 => Some(format!(
            "dcr_session={}",
            "z".repeat(rng.between(10, 4_000))
        )),
        2 => Some("dcr_signed_in=1".into()),
        3 => Some(
            (0..200)
                .map(|i| format!("c{i}=v"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    };
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    let (method, body): (&str, Vec<u8>) = match j % 7 {
        0 => {
            headers.push(("Content-Type", FORM.into()));
            (
                "POST",
                format!("reason={}", *rng.pick(&["", "ab", long.as_str()])).into_bytes(),
            )
        }
        1 => ("DELETE", Vec::new()),
        _ => ("GET", Vec::new()),
    };
    let shown: String = path.chars().take(50).collect();
    Case::new(
        format!("{method} {shown}"),
        Target::Portal,
        portal_request(ctx, method, path, &headers, &body),
    )
}
