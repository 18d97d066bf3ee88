//! HTTP/2 (RFC 9113) frames gone wrong, on a TLS connection that negotiated `h2`: no preface,
//! frames of the wrong size or on the wrong stream, header blocks that do not decode, floods of
//! pings and of streams reset as soon as opened.

use super::{Case, Ctx, Rng, Target};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A frame: length, type, flags, stream id, payload (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

/// A GET of `/healthz` in HPACK: `:method GET`, `:scheme https`, `:path` literal, `:authority`.
fn get_healthz() -> Vec<u8> {
    let mut block = vec![0x82, 0x87, 0x44, 0x08];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x41, 0x09]);
    block.extend_from_slice(b"localhost");
    block
}

pub(super) fn frames(_: &Ctx, j: usize, rng: &mut Rng) -> Case {
    let mut b = PREFACE.to_vec();
    b.extend(frame(SETTINGS, 0, 0, b""));
    let label = match j % 10 {
        0 => {
            b.extend(rng.some_bytes(1, 4_000));
            "preface, then random bytes"
        }
        1 => {
            b = rng.some_bytes(1, 4_000);
            "random bytes instead of the preface"
        }
        2 => {
            b.extend(frame(SETTINGS, 0, 0, &[0; 7]));
            "SETTINGS of 7 bytes"
        }
        3 => {
            b.extend(frame(HEADERS, END_HEADERS, 1, &rng.some_bytes(1, 500)));
            "a header block that does not decode"
        }
        4 => {
            b.extend(frame(HEADERS, END_HEADERS, 0, &get_healthz()));
            "HEADERS on stream 0"
        }
        5 => {
            b.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]));
            "a window update of 0"
        }
        6 => {
            for i in 0..rng.between(500, 5_000) {
                b.extend(frame(PING, 0, 0, &(i as u64).to_be_bytes()));
            }
            "a flood of pings"
        }
        7 => {
            b.extend(frame(CONTINUATION, END_HEADERS, 1, &get_healthz()));
            "CONTINUATION without HEADERS"
        }
        8 => {
            b.extend_from_slice(&[0xff, 0xff, 0xff, DATA, 0, 0, 0, 0, 1]);
            b.extend(rng.some_bytes(1, 1_000));
            "a 16 MB DATA frame announced"
        }
        _ => {
            for i in 0..rng.between(100, 1_000) {
                let stream = 2 * u32::try_from(i).unwrap_or(0) + 1;
                b.extend(frame(HEADERS, END_HEADERS, stream, &get_healthz()));
                b.extend(frame(RST_STREAM, 0, stream, &[0, 0, 0, 8]));
            }
            "streams reset as soon as opened"
        }
    };
    Case::new(label, Target::ApiH2, b).half_close()
}
