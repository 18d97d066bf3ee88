//! Bytes on the TLS port that are not a proper handshake: garbage, and real ClientHellos
//! truncated or garbled, and plaintext HTTP.

use super::{request, Case, Ctx, Rng, Target};

pub(super) fn garbage(_: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let n = rng.between(1, 16 * 1024);
    let (label, bytes) = match j % 10 {
        0 => ("random bytes", rng.bytes(n)),
        1 => {
            let mut b = vec![0x16, 0x03, 0x01, 0xff, 0xff];
            b.extend(rng.bytes(n));
            ("handshake record claiming 64 KB", b)
        }
        2 => {
            let mut b = vec![0x17, 0x03, 0x03, 0x00, 0x40];
            b.extend(rng.bytes(64));
            ("application data before a handshake", b)
        }
        3 => (
            "ChangeCipherSpec first",
            vec![0x14, 0x03, 0x03, 0x00, 0x01, 0x01],
        ),
        4 => (
            "alert first",
            vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        ),
        5 => {
            let mut b = vec![0x80, 0x2e, 0x01, 0x00, 0x02];
            b.extend(rng.bytes(0x2b));
            ("SSLv2 ClientHello", b)
        }
        6 => ("zeros", vec![0u8; n]),
        7 => {
            let mut b = Vec::new();
            for _ in 0..rng.between(1, 500) {
                b.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, 0x00]);
            }
            ("empty handshake records", b)
        }
        8 => {
            let mut b = vec![0x16, 0x03, 0x09, 0x00, 0x10];
            b.extend(rng.bytes(16));
            ("unknown record version", b)
        }
        _ => {
            let mut b = vec![0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0xff, 0xff, 0xff];
            b.extend(rng.bytes(0x2c));
            ("ClientHello claiming 16 MB", b)
        }
    };
    Case::new(label, Target::ApiRaw, bytes).half_close()
}

pub(super) fn truncated_hello(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let hello = &ctx.client_hello;
    let cut = rng.between(1, hello.len() - 1);
    let case = Case::new(
        format!("ClientHello cut at {cut} of {}", hello.len()),
        Target::ApiRaw,
        hello[..cut].to_vec(),
    );
    // Most end the stream; some are left hanging for the handshake deadline.
    if j.is_multiple_of(25) {
        case.stall()
    } else {
        case.half_close()
    }
}

pub(super) fn garbled_hello(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let mut hello = ctx.client_hello.clone();
    let label = match j % 4 {
        0 => {
            let flips = rng.between(1, 8);
            for _ in 0..flips {
                let i = rng.below(hello.len());
                hello[i] ^= 1 << rng.below(8);
            }
            format!("{flips} bits flipped")
        }
        1 => {
            let at = rng.between(5, hello.len() - 1);
            let len = rng.between(1, (hello.len() - at).min(32));
            for b in &mut hello[at..at + len] {
                *b = rng.next().to_le_bytes()[0];
            }
            format!("{len} bytes overwritten at {at}")
        }
        2 => {
            // Inflate one of the inner lengths (handshake length, session id, suites).
            let i = *rng.pick(&[6usize, 7, 8, 43, 44, 45]);
            if i < hello.len() {
                hello[i] = 0xff;
            }
            format!("length byte {i} set to 0xff")
        }
        _ => {
            let extra = rng.some_bytes(1, 4096);
            hello.extend(extra);
            "ClientHello followed by garbage".into()
        }
    };
    Case::new(label, Target::ApiRaw, hello).half_close()
}

pub(super) fn plaintext(ctx: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let host = &ctx.api_host;
    let (label, bytes) = match j % 5 {
        0 => (
            "GET over plaintext",
            request("GET", "/healthz", host, &[], b""),
        ),
        1 => (
            "POST over plaintext",
            request(
                "POST",
                "/register",
                host,
                &[("Content-Type", "application/jwt")],
                b"a.b.c",
            ),
        ),
        2 => (
            "HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        ),
        3 => (
            "CONNECT",
            format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
        ),
        _ => ("request line only", b"GET / HTTP/1.0\r\n".to_vec()),
    };
    let case = Case::new(label, Target::ApiRaw, bytes);
    if rng.below(2) == 0 {
        case.half_close()
    } else {
        case.fresh()
    }
}
