//! What the JOSE operations of the hot paths cost, one thread, in microseconds per operation:
//! signing an access token (ES256) and verifying the PS256 signatures of SSAs, registration
//! requests and client assertions (and ES256 ones). The load benchmark (`scripts/bench.sh`)
//! shows the same cost diluted in whole requests.
//!
//! `cargo bench -p dcr-core --bench jose` (a plain timing loop: each case runs for about one
//! second after a warm-up; the median of five such runs is printed).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dcr_core::jose::{verify, JwkSet, SigningKey};
use serde_json::json;

/// A named operation.
type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);

fn per_op(mut op: impl FnMut()) -> Duration {
    for _ in 0..50 {
        op();
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(200) {
            op();
            n += 1;
        }
        runs.push(start.elapsed() / n);
    }
    runs.sort();
    runs[2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ps256 = SigningKey::generate_ps256("ps", 2048)?;
    let es256 = SigningKey::generate_es256("es")?;
    let claims = json!({
        "iss": "f1b2c3d4-0000-4000-8000-000000000001",
        "sub": "f1b2c3d4-0000-4000-8000-000000000001",
        "aud": "https://dh.example/token",
        "jti": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "iat": 1_765_000_000,
        "exp": 1_765_000_300,
    });
    let ps_token = ps256.sign(&claims)?;
    let es_token = es256.sign(&claims)?;
    let (ps_key, es_key) = (ps256.verifying_key(), es256.verifying_key());
    let jwks = serde_json::to_vec(&json!({"keys": [ps256.public_jwk(), es256.public_jwk()]}))?;

    let cases: [Case<'_>; 5] = [
        (
            "sign ES256",
            Box::new(|| drop(black_box(es256.sign(&claims)))),
        ),
        (
            "sign PS256",
            Box::new(|| drop(black_box(ps256.sign(&claims)))),
        ),
        (
            "verify PS256",
            Box::new(|| drop(black_box(verify(&ps_token, &ps_key)))),
        ),
        (
            "verify ES256",
            Box::new(|| drop(black_box(verify(&es_token, &es_key)))),
        ),
        (
            "parse JWK set (RSA + EC)",
            Box::new(|| drop(black_box(JwkSet::parse(&jwks)))),
        ),
    ];
    for (name, op) in &cases {
        let t = per_op(op);
        println!("{name:<26} {:>9.1} µs/op", t.as_secs_f64() * 1e6);
    }
    Ok(())
}
