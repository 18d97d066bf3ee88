//! Well-framed requests to the API with hostile content: malformed bodies, JWTs and JSON, wrong
//! methods and content types, bad credentials and client ids.

use serde_json::json;

use super::{api, b64, post, request, uuid, Case, Ctx, Rng, API_PATHS, FORM};

const JWT_BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
const JWT: &str = "application/jwt";
const JSON: &str = "application/json";
const METADATA: &str = "/cds-au/v1/admin/register/metadata";

pub(super) fn api_malformed_body(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let host = &ctx.api_host;
    let token = |body: &[u8]| post(host, "/token", FORM, body);
    let bearer = [("Content-Type", JWT), ("Authorization", "Bearer a.b.c")];
    let (label, bytes) = match j % 15 {
        0 => (
            "random bytes as a JWT",
            post(host, "/register", JWT, &rng.some_bytes(1, 60_000)),
        ),
        1 => ("empty registration", post(host, "/register", JWT, b"")),
        2 => (
            "UTF-16 registration",
            post(host, "/register", JWT, b"\xff\xfea\0.\0b\0.\0c\0"),
        ),
        3 => (
            "bad percent-encoding in a form",
            token(b"grant_type=%zz&client_assertion=%"),
        ),
        4 => ("separators only", token(b"&&&&===&=&")),
        5 => (
            "repeated parameters",
            token(b"grant_type=client_credentials&grant_type=password&scope=a&scope=b"),
        ),
        6 => {
            let body = (0..33).map(|i| format!("p{i}=v")).collect::<Vec<_>>();
            ("33 parameters", token(body.join("&").as_bytes()))
        }
        7 => {
            let body = "a=b&".repeat(16_000);
            (
                "16,000 parameters in 64 KB",
                token(&body.as_bytes()[..64_000]),
            )
        }
        8 => (
            "non-UTF-8 in a form",
            token(b"grant_type=%ff%fe&client_assertion=\xff\xfe"),
        ),
        9 => (
            "wrong assertion type",
            token(
                b"grant_type=client_credentials&client_assertion_type=password\
                    &client_assertion=a.b.c",
            ),
        ),
        10 => (
            "random bytes to revocation",
            post(
                host,
                "/arrangements/revoke",
                FORM,
                &rng.some_bytes(1, 5_000),
            ),
        ),
        11 => (
            "random bytes to Admin Metadata Update",
            post(host, METADATA, JSON, &rng.some_bytes(1, 5_000)),
        ),
        12 => (
            "garbage PUT",
            request(
                "PUT",
                &client_path(),
                host,
                &bearer,
                &rng.some_bytes(1, 5_000),
            ),
        ),
        13 => (
            "DELETE with a body",
            request(
                "DELETE",
                &client_path(),
                host,
                &bearer[1..],
                &rng.bytes(100),
            ),
        ),
        _ => (
            "form with only the key names",
            token(b"grant_type&client_assertion_type&client_assertion&scope"),
        ),
    };
    Case::new(label, api(true), bytes)
}

/// `/register/{a new client id}`.
fn client_path() -> String {
    format!("/register/{}", uuid())
}

/// A compact JWT of `header` and `payload` (JSON texts) and a signature.
fn jwt(header: &[u8], payload: &[u8], signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), b64(signature))
}

/// JWT-shaped strings that are not JWTs, or JWTs that must be refused.
fn hostile_jwt(ctx: &Ctx, j: usize, rng: &mut Rng) -> (&'static str, String) {
    let claims = br#"{"iss":"x","aud":"y","exp":9999999999}"#;
    let payload = b64(claims);
    let ps256 = br#"{"alg":"PS256","kid":"k"}"#;
    let signed = |c: serde_json::Value| ctx.stranger.sign(&c).unwrap_or_default();
    match j % 24 {
        0 => ("empty", String::new()),
        1 => ("one part", "abc".into()),
        2 => ("two parts", format!("{}.{payload}", b64(ps256))),
        3 => (
            "four parts",
            format!("{}.extra", jwt(ps256, claims, b"sig")),
        ),
        4 => ("dots only", ".....".into()),
        5 => ("bad base64", "!!!.@@@.###".into()),
        6 => (
            "padded standard base64",
            "eyJhbGciOiJQUzI1NiJ9==.eyJ+/x==.c2ln+/==".into(),
        ),
        7 => ("header not JSON", jwt(b"not json", claims, b"sig")),
        8 => ("header an array", jwt(b"[1,2]", claims, b"sig")),
        9 => (
            "alg none",
            jwt(br#"{"alg":"none","typ":"JWT"}"#, claims, b""),
        ),
        10 => ("alg None", jwt(br#"{"alg":"None"}"#, claims, b"")),
        11 => (
            "alg HS256",
            jwt(br#"{"alg":"HS256","kid":"k"}"#, claims, &rng.bytes(32)),
        ),
        12 => (
            "alg RS256",
            jwt(br#"{"alg":"RS256","kid":"k"}"#, claims, &rng.bytes(256)),
        ),
        13 => ("PS256 with an empty signature", jwt(ps256, claims, b"")),
        14 => (
            "PS256 with a 10 KB signature",
            jwt(ps256, claims, &rng.bytes(10_000)),
        ),
        15 => {
            let header = format!(r#"{{"alg":"PS256","kid":"{}"}}"#, "k".repeat(40_000));
            ("kid of 40 KB", jwt(header.as_bytes(), claims, b"sig"))
        }
        16 => (
            "jku and x5u to a metadata address",
            jwt(
                concat!(
                    r#"{"alg":"PS256","kid":"k","jku":"http://169.254.169.254/latest","#,
                    r#""x5u":"http://127.0.0.1:1/x"}"#
                )
                .as_bytes(),
                claims,
                b"sig",
            ),
        ),
        17 => (
            "crit header",
            jwt(
                br#"{"alg":"PS256","kid":"k","crit":["exp"],"exp":1}"#,
                claims,
                b"sig",
            ),
        ),
        18 => {
            let header = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
            (
                "header nested 20,000 deep",
                jwt(header.as_bytes(), claims, b"sig"),
            )
        }
        19 => {
            let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(45_000));
            ("60 KB payload", jwt(ps256, big.as_bytes(), b"sig"))
        }
        20 => ("signed by a stranger, empty claims", signed(json!({}))),
        21 => (
            "signed by a stranger, claims of the wrong types",
            signed(json!({
                "iss": 5, "aud": {"a": 1}, "exp": "soon", "iat": [1], "jti": null,
                "software_statement": {"not": "a string"}, "redirect_uris": "x",
            })),
        ),
        22 => (
            "signed by a stranger, extreme times and a fake SSA",
            signed(json!({
                "iss": uuid(), "sub": uuid(), "aud": ctx.issuer, "exp": i64::MAX,
                "iat": i64::MIN, "jti": "j".repeat(300), "software_statement": "a.b.c",
                "token_endpoint_auth_method": "private_key_jwt",
                "redirect_uris": ["javascript:alert(1)"],
            })),
        ),
        _ => {
            let ssa = signed(json!({
                "iss": "cdr-register", "software_id": uuid(),
                "jwks_uri": "https://127.0.0.1:1/jwks", "exp": 9_999_999_999i64, "iat": 1,
                "jti": uuid(),
            }));
            let request = signed(json!({
                "iss": uuid(), "aud": ctx.issuer, "exp": 9_999_999_999i64, "iat": 1,
                "jti": uuid(), "software_statement": ssa,
            }));
            ("signed by a stranger, SSA signed by the stranger", request)
        }
    }
}

pub(super) fn api_jwt(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (what, jwt) = hostile_jwt(ctx, j / 6, rng);
    let host = &ctx.api_host;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let bearer = format!("Bearer {jwt}");
    let (place, bytes) = match j % 6 {
        0 => (
            "registration body",
            post(host, "/register", JWT, jwt.as_bytes()),
        ),
        1 => {
            let form = format!(
                "grant_type=client_credentials&client_assertion_type={JWT_BEARER}\
                 &client_assertion={}&scope=cdr%3Aregistration",
                enc(&jwt)
            );
            (
                "client assertion",
                post(host, "/token", FORM, form.as_bytes()),
            )
        }
        2 => {
            let headers = [("Authorization", bearer.as_str())];
            (
                "bearer token",
                request("GET", &client_path(), host, &headers, b""),
            )
        }
        3 => {
            let headers = [("Content-Type", JWT), ("Authorization", bearer.as_str())];
            let put = request("PUT", &client_path(), host, &headers, jwt.as_bytes());
            ("update body and bearer", put)
        }
        4 => {
            let headers = [
                ("Content-Type", JSON),
                ("Authorization", bearer.as_str()),
                ("x-v", "1"),
            ];
            let body = br#"{"data":{"action":"REFRESH"}}"#;
            (
                "Register's admin token",
                request("POST", METADATA, host, &headers, body),
            )
        }
        _ => {
            let form = format!(
                "client_assertion_type={JWT_BEARER}&client_assertion={}&cdr_arrangement_id=x",
                enc(&jwt)
            );
            (
                "revocation assertion",
                post(host, "/arrangements/revoke", FORM, form.as_bytes()),
            )
        }
    };
    // A bearer token past the header cap ends the connection.
    let c = Case::new(format!("{what} as {place}"), api(true), bytes);
    if j % 6 >= 2 && jwt.len() > 30_000 {
        c.fresh()
    } else {
        c
    }
}

/// Text that is not JSON, or JSON built to hurt a parser.
fn hostile_json(j: usize, rng: &mut Rng) -> (&'static str, Vec<u8>) {
    match j % 14 {
        0 => ("truncated object", b"{\"iss\":".to_vec()),
        1 => ("trailing garbage", b"{}x".to_vec()),
        2 => (
            "duplicate keys",
            br#"{"iss":"a","iss":"b","aud":"x","aud":"y"}"#.to_vec(),
        ),
        3 => ("lone surrogate", br#"{"iss":"\ud800"}"#.to_vec()),
        4 => ("invalid UTF-8", b"{\"iss\":\"\xff\xfe\"}".to_vec()),
        5 => ("number 1e999", br#"{"exp":1e999,"iat":-1e999}"#.to_vec()),
        // Deep enough to overflow a recursive parser, small enough to pass the body cap.
        6 => (
            "arrays 8,000 deep",
            format!("{}{}", "[".repeat(8_000), "]".repeat(8_000)).into_bytes(),
        ),
        7 => (
            "objects 4,000 deep",
            format!("{}1{}", r#"{"a":"#.repeat(4_000), "}".repeat(4_000)).into_bytes(),
        ),
        8 => (
            "NaN and Infinity",
            br#"{"exp":NaN,"iat":Infinity}"#.to_vec(),
        ),
        9 => ("byte order mark", b"\xef\xbb\xbf{}".to_vec()),
        10 => ("a string, not an object", br#""just a string""#.to_vec()),
        11 => ("null", b"null".to_vec()),
        12 => (
            "40 KB key",
            format!(r#"{{"{}":1}}"#, "k".repeat(40_000)).into_bytes(),
        ),
        _ => ("random bytes", rng.some_bytes(1, 2_000)),
    }
}

pub(super) fn api_json(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let (what, text) = hostile_json(j / 4, rng);
    let host = &ctx.api_host;
    let header = b64(br#"{"alg":"PS256","kid":"k","typ":"JWT"}"#);
    let (place, bytes) = match j % 4 {
        0 => (
            "registration claims",
            request(
                "POST",
                "/register",
                host,
                &[("Content-Type", "application/jwt")],
                format!("{header}.{}.c2ln", b64(&text)).as_bytes(),
            ),
        ),
        1 => (
            "JWT header",
            request(
                "POST",
                "/register",
                host,
                &[("Content-Type", "application/jwt")],
                format!("{}.{}.c2ln", b64(&text), b64(b"{}")).as_bytes(),
            ),
        ),
        2 => ("SSA claims in a signed request", {
            let ssa = format!("{header}.{}.c2ln", b64(&text));
            let jwt = ctx.stranger.sign(&json!({
                "iss": uuid(), "aud": ctx.issuer, "exp": 9_999_999_999i64, "iat": 1, "jti": uuid(),
                "software_statement": ssa,
            })).unwrap_or_default();
            request(
                "POST",
                "/register",
                host,
                &[("Content-Type", "application/jwt")],
                jwt.as_bytes(),
            )
        }),
        _ => (
            "Admin Metadata Update body",
            request(
                "POST",
                "/cds-au/v1/admin/register/metadata",
                host,
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", "Bearer a.b.c"),
                    ("x-v", "1"),
                ],
                &text,
            ),
        ),
    };
    Case::new(format!("{what} in the {place}"), api(true), bytes)
}

pub(super) fn api_method(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let methods = [
        "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "HEAD", "FOO", "PROPFIND", "M-SEARCH", "GET",
        "POST", "CONNECT",
    ];
    let m = methods[j % methods.len()];
    let mut path = (*rng.pick(API_PATHS)).to_string();
    if rng.below(4) == 0 {
        path = format!("/register/{}", uuid());
    }
    let bytes = request(
        m,
        &path,
        &ctx.api_host,
        &[("Authorization", "Bearer a.b.c")],
        if m == "HEAD" || m == "GET" {
            b""
        } else {
            b"x=1"
        },
    );
    let mut c = Case::new(format!("{m} {path}"), api(true), bytes);
    c.head = m == "HEAD";
    if m == "CONNECT" {
        c.fresh()
    } else {
        c
    }
}

pub(super) fn api_content_type(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let types = [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        FORM,
        "",
        "application/jwt; charset=utf-16",
        "APPLICATION/JWT",
        "application/jwt, application/json",
        "*/*",
        "application/jwt;;;;;;",
        "image/png",
    ];
    let ct = types[j % types.len()];
    let long_ct = format!("application/{}", "x".repeat(10_000));
    let ct = if j.is_multiple_of(23) {
        long_ct.as_str()
    } else {
        ct
    };
    let host = &ctx.api_host;
    let (path, method, body): (String, &str, Vec<u8>) = match rng.below(4) {
        0 => ("/register".into(), "POST", b"a.b.c".to_vec()),
        1 => (
            "/token".into(),
            "POST",
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
        ),
        2 => (format!("/register/{}", uuid()), "PUT", b"a.b.c".to_vec()),
        _ => (
            "/cds-au/v1/admin/register/metadata".into(),
            "POST",
            br#"{"data":{"action":"REFRESH"}}"#.to_vec(),
        ),
    };
    let accept = *rng.pick(&[
        "application/xml",
        "text/html",
        "*/*",
        "application/json;q=0",
        "x/y, z/w;q=2",
    ]);
    let mut headers = vec![("Authorization", "Bearer a.b.c"), ("Accept", accept)];
    if !ct.is_empty() {
        headers.push(("Content-Type", ct));
    }
    let short: String = ct.chars().take(40).collect();
    Case::new(
        format!("{method} {path} as {short:?}"),
        api(true),
        request(method, &path, host, &headers, &body),
    )
}

pub(super) fn api_auth(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let host = &ctx.api_host;
    let ids = [
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        "%27%20OR%201%3D1%20--",
        "%E2%80%AE",
        "a%2Fb",
        "%20",
        "-1",
        "null",
    ];
    if j.is_multiple_of(4) {
        // No client certificate at all.
        let (label, bytes) = match (j / 4) % 5 {
            0 => (
                "registration",
                request(
                    "POST",
                    "/register",
                    host,
                    &[("Content-Type", "application/jwt")],
                    b"a.b.c",
                ),
            ),
            1 => (
                "token",
                request(
                    "POST",
                    "/token",
                    host,
                    &[("Content-Type", FORM)],
                    b"grant_type=client_credentials",
                ),
            ),
            2 => (
                "read",
                request(
                    "GET",
                    &format!("/register/{}", uuid()),
                    host,
                    &[("Authorization", "Bearer a.b.c")],
                    b"",
                ),
            ),
            3 => (
                "revocation",
                request(
                    "POST",
                    "/arrangements/revoke",
                    host,
                    &[("Content-Type", FORM)],
                    b"cdr_arrangement_id=x",
                ),
            ),
            _ => (
                "discovery",
                request("GET", "/.well-known/openid-configuration", host, &[], b""),
            ),
        };
        return Case::new(
            format!("{label} without a client certificate"),
            api(false),
            bytes,
        );
    }
    let long_id = "a".repeat(rng.between(1_000, 20_000));
    let id = if j.is_multiple_of(7) {
        long_id.as_str()
    } else {
        ids[j % ids.len()]
    };
    let long = format!("Bearer {}", "t".repeat(20_000));
    let auths = [
        "Bearer",
        "Bearer ",
        "bearer a.b.c",
        "Basic dXNlcjpwYXNz",
        long.as_str(),
        "Bearer a b c",
        "Negotiate YIIB",
        "Bearer \t a.b.c",
    ];
    let auth = auths[(j / 2) % auths.len()];
    let method = *rng.pick(&["GET", "DELETE"]);
    let shown: String = id.chars().take(30).collect();
    let shown_auth: String = auth.chars().take(20).collect();
    Case::new(
        format!("{method} /register/{shown} with {shown_auth:?}"),
        api(true),
        request(
            method,
            &format!("/register/{id}"),
            host,
            &[("Authorization", auth), ("Authorization", "Bearer second")],
            b"",
        ),
    )
}
