//! Serving a listener: accepting connections under the connection caps, the TLS handshake with
//! its deadline, and HTTP/1.1 or HTTP/2 (by ALPN) with the header-read timeout and the HTTP/2
//! limits of [`ListenerLimits`]; graceful shutdown.
//!
//! Every connection holds a place at the listener's gate ([`Gate`]) until it closes: past
//! `max_connections` on the listener, or `max_connections_per_address` for one address (an IPv6
//! address counts by its /64; trusted proxies are exempt, since one proxy address stands for
//! many clients), a new connection is closed at once, before any TLS or HTTP work. Slow clients
//! are bounded by time: the TLS handshake must finish within its deadline, and HTTP/1.1 request
//! headers within the header-read timeout, which hyper starts as soon as the connection is ready
//! for a request, so it also closes a keep-alive connection left idle that long. HTTP/2
//! connections are pinged and closed when the peer stops answering, and carry a bounded number
//! of streams.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

pub use crate::config::ListenerLimits;
use crate::tls::ConnectionInfo;

/// Connections refused at the gate, by listener and reason (`listener`, `address`).
pub const CONNECTIONS_REFUSED: &str = "dcr_connections_refused_total";
/// Connections open, by listener.
pub const CONNECTIONS_OPEN: &str = "dcr_connections_open";

/// The connection caps of one listener.
pub struct Gate {
    name: &'static str,
    limits: ListenerLimits,
    exempt: Vec<IpAddr>,
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// A place held at the gate; given back when dropped (when the connection's task ends).
pub struct Place {
    gate: Arc<Gate>,
    key: Option<IpAddr>,
}

impl Gate {
    /// A gate for listener `name`; addresses in `exempt` have no per-address cap.
    #[must_use]
    pub fn new(name: &'static str, limits: ListenerLimits, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            name,
            limits,
            exempt,
            open: Mutex::new(Counts::default()),
        })
    }

    /// The key a peer's connections count under: its address, an IPv6 address by its /64.
    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            },
            v4 @ IpAddr::V4(_) => v4,
        }
    }

    /// Takes a place for a connection from `peer`, or says which cap refused it.
    ///
    /// # Errors
    /// `"listener"` or `"address"`: the cap that is full.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Place, &'static str> {
        let key = (!self.exempt.contains(&peer)).then(|| Self::key(peer));
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.limits.max_connections {
            return Err("listener");
        }
        if let Some(k) = key {
            let n = open.by_address.entry(k).or_default();
            if *n >= self.limits.max_connections_per_address {
                return Err("address");
            }
            *n += 1;
        }
        open.total += 1;
        metrics::gauge!(CONNECTIONS_OPEN, "listener" => self.name).set(open.total as f64);
        Ok(Place {
            gate: Arc::clone(self),
            key,
        })
    }

    /// Connections open now.
    #[must_use]
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self
            .gate
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(k) = self.key {
            if let Some(n) = open.by_address.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    open.by_address.remove(&k);
                }
            }
        }
        metrics::gauge!(CONNECTIONS_OPEN, "listener" => self.gate.name).set(open.total as f64);
    }
}

/// The HTTP/1.1 and HTTP/2 protocol settings of a listener.
#[derive(Clone)]
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(limits: &ListenerLimits) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(100)
            .max_header_size(MAX_HEADER_BYTES);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .keep_alive_interval(limits.http2_keep_alive)
            .keep_alive_timeout(limits.http2_keep_alive)
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .max_pending_accept_reset_streams(20)
            .max_local_error_reset_streams(Some(100));
        Self { http1, http2 }
    }
}

/// Largest request head accepted (start line and headers), on either protocol.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Serves `router` on `listener` (TLS when `tls` is given) under `gate`'s caps until `shutdown`
/// resolves, then lets in-flight requests finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<TlsAcceptor>,
    gate: Arc<Gate>,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let protocols = Protocols::new(&gate.limits);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            res = listener.accept() => match res {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let place = match gate.admit(peer.ip()) {
            Ok(place) => place,
            Err(cap) => {
                metrics::counter!(CONNECTIONS_REFUSED, "listener" => gate.name, "reason" => cap)
                    .increment(1);
                tracing::debug!(target: "security", %peer, cap, "connection refused at the cap");
                drop(tcp);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let protocols = protocols.clone();
        let watcher = graceful.watcher();
        let handshake = gate.limits.tls_handshake_timeout;
        tokio::spawn(async move {
            let _place = place;
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let session = stream.get_ref().1;
                    let h2 = session.alpn_protocol() == Some(b"h2");
                    let client_cert = session
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| Arc::new(c.as_ref().to_vec()));
                    let info = ConnectionInfo {
                        peer,
                        client_cert,
                        tls: true,
                    };
                    serve_connection(stream, h2, info, router, &protocols, watcher).await;
                }
                None => {
                    let info = ConnectionInfo {
                        peer,
                        client_cert: None,
                        tls: false,
                    };
                    // Plain HTTP is the portal and the metrics: HTTP/1.1 (no h2c).
                    serve_connection(tcp, false, info, router, &protocols, watcher).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
}

async fn serve_connection<IO>(
    io: IO,
    h2: bool,
    info: ConnectionInfo,
    router: axum::Router,
    protocols: &Protocols,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = router.map_request(move |mut req: http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info.clone());
        req
    });
    let svc = TowerToHyperService::new(svc);
    let io = TokioIo::new(io);
    let result = if h2 {
        watcher
            .watch(protocols.http2.serve_connection(io, svc))
            .await
            .map_err(|e| e.to_string())
    } else {
        watcher
            .watch(protocols.http1.serve_connection(io, svc))
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ListenerLimits {
        ListenerLimits {
            max_connections: total,
            max_connections_per_address: per_address,
            ..ListenerLimits::default()
        }
    }

    #[test]
    fn the_caps_hold_and_places_come_back_when_dropped() {
        let gate = Gate::new("t", limits(3, 2), vec!["10.0.0.9".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some("address"));
        let _b1 = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).err(), Some("listener"));
        assert_eq!(gate.open(), 3);
        drop(a1);
        assert_eq!(gate.open(), 2);
        let _a3 = gate.admit(a).unwrap();
        assert_eq!(
            gate.admit("10.0.0.9".parse().unwrap()).err(),
            Some("listener")
        );
    }

    #[test]
    fn a_trusted_proxy_has_no_address_cap() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let gate = Gate::new("t", limits(10, 1), vec![proxy]);
        let places: Vec<_> = (0..5).map(|_| gate.admit(proxy).unwrap()).collect();
        assert_eq!(places.len(), 5);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let gate = Gate::new("t", limits(10, 2), vec![]);
        let _first = gate.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let _second = gate.admit("2001:db8:1:2:ffff::9".parse().unwrap()).unwrap();
        assert_eq!(
            gate.admit("2001:db8:1:2:abcd::1".parse().unwrap()).err(),
            Some("address"),
            "same /64"
        );
        assert!(
            gate.admit("2001:db8:1:3::1".parse().unwrap()).is_ok(),
            "another /64"
        );
        assert_eq!(
            Gate::key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap(),
            "an IPv4-mapped address counts as IPv4"
        );
    }
}
