//! The listeners under abuse: slow clients are closed on time while others are served, and the
//! connection caps hold (docs/deploy.md, "Connection limits").

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::both_backends;
use crate::helpers::{https_client_from, spawn_app_with, Backend, TestApp};

/// Another loopback address than the slow clients', for the requests that must still be served.
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn addr_of(url: &str) -> SocketAddr {
    let authority = url.split("://").nth(1).unwrap().split('/').next().unwrap();
    authority.parse().unwrap()
}

/// Whether the server has closed `stream`: a read returns end of file or an error at once.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // An error page (408, 400): keep reading to the close.
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether the server closes `stream` within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if closed(stream).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Requests that must be served from another address while the slow clients are held.
async fn others_are_served(app: &TestApp) {
    let client = https_client_from(&app.ca_pem, None, Some(OTHER));
    let res = client
        .get(format!("{}/login", app.portal))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the portal still serves");
    let res = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the API still serves");
}

async fn slow_connections_are_closed_on_time_and_others_are_still_served(backend: Backend) {
    const SLOW: usize = 2_000;
    const DEADLINE: Duration = Duration::from_secs(3);
    let app = spawn_app_with(backend, |raw| {
        raw.server.header_read_timeout_secs = Some(DEADLINE.as_secs());
        raw.server.tls_handshake_timeout_secs = Some(DEADLINE.as_secs());
        raw.server.max_connections_per_address = Some(5_000);
    })
    .await;
    let portal = addr_of(&app.portal);
    let api = addr_of(&app.base);
    // 1,800 portal clients that send half a request head, 200 API clients that start no TLS
    // handshake; each remembers when it connected.
    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let to = if i % 10 == 0 { api } else { portal };
        let mut s = TcpStream::connect(to).await.unwrap();
        if to == portal {
            s.write_all(b"GET /login HTTP/1.1\r\nHost: portal\r\n")
                .await
                .unwrap();
        }
        slow.push((Instant::now(), s));
    }
    others_are_served(&app).await;
    // Not before their time: those that connected less than the deadline ago (with half a
    // second of margin) are open.
    let mut checked = 0;
    for (since, s) in slow.iter_mut().rev().step_by(20) {
        if since.elapsed() + Duration::from_millis(500) < DEADLINE {
            assert!(
                !closed(s).await,
                "closed {:?} after connecting",
                since.elapsed()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no connection was young enough to check");
    // On time: all closed within two seconds of their deadline.
    let last = slow.last().unwrap().0;
    tokio::time::sleep((DEADLINE + Duration::from_secs(2)).saturating_sub(last.elapsed())).await;
    let mut open = 0;
    for (_, s) in &mut slow {
        if !closed(s).await {
            open += 1;
        }
    }
    assert_eq!(
        open, 0,
        "slow connections still open 2 s past their deadline"
    );
    others_are_served(&app).await;
}

async fn connection_caps_refuse_the_excess_at_once(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.server.max_connections_per_address = Some(5);
        raw.server.max_connections = Some(8);
    })
    .await;
    let portal = addr_of(&app.portal);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(portal).await.unwrap());
    }
    // The sixth from the same address is closed at once, unanswered.
    let mut sixth = TcpStream::connect(portal).await.unwrap();
    let _ = sixth
        .write_all(b"GET /login HTTP/1.1\r\nHost: portal\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(2), sixth.read_to_end(&mut buf))
        .await
        .expect("closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "no answer past the address cap");
    // Another address is still served, up to the listener's cap of 8 (5 held + 3).
    for _ in 0..3 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(OTHER, 0)).unwrap();
        held.push(socket.connect(portal).await.unwrap());
    }
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(OTHER, 0)).unwrap();
    let mut ninth = socket.connect(portal).await.unwrap();
    assert!(
        closed_within(&mut ninth, Duration::from_secs(2)).await,
        "closed at the listener's cap"
    );
    // A place is given back when a connection ends: a request is served again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = https_client_from(&app.ca_pem, None, None)
        .get(format!("{}/login", app.portal))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A TLS client that offers only `suite` on `version`: answers the handshake's outcome and, when
/// it succeeds, the suite agreed.
async fn handshake_with(
    app: &TestApp,
    version: &'static rustls::SupportedProtocolVersion,
    suite: rustls::CipherSuite,
) -> Result<rustls::CipherSuite, std::io::Error> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|s| s.suite() == suite);
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(crate::helpers::roots(&app.ca_pem))
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr_of(&app.base)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await?;
    Ok(tls.get_ref().1.negotiated_cipher_suite().unwrap().suite())
}

/// TLS 1.2 only with the FAPI 1.0 suites (ECDHE with AES-GCM): CHACHA20 and CBC suites are
/// refused there; TLS 1.3 is allowed with its suites.
async fn tls_1_2_is_limited_to_the_fapi_cipher_suites(backend: Backend) {
    use rustls::CipherSuite as S;
    let app = crate::helpers::spawn_app(backend).await;
    let tls12 = &rustls::version::TLS12;
    let tls13 = &rustls::version::TLS13;
    for suite in [
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ] {
        assert_eq!(handshake_with(&app, tls12, suite).await.unwrap(), suite);
    }
    for suite in [S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256] {
        let err = handshake_with(&app, tls12, suite).await.unwrap_err();
        assert_eq!(
            crate::helpers::tls_alert(&err),
            Some(rustls::AlertDescription::HandshakeFailure),
            "{suite:?}: {err:?}"
        );
    }
    for suite in [
        S::TLS13_AES_128_GCM_SHA256,
        S::TLS13_AES_256_GCM_SHA384,
        S::TLS13_CHACHA20_POLY1305_SHA256,
    ] {
        assert_eq!(handshake_with(&app, tls13, suite).await.unwrap(), suite);
    }
}

both_backends!(
    slow_connections_are_closed_on_time_and_others_are_still_served,
    connection_caps_refuse_the_excess_at_once,
    tls_1_2_is_limited_to_the_fapi_cipher_suites,
);
