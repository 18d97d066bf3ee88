//! The composition root: builds the store, keys, routers and listeners from a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use dcr_core::clock::SharedClock;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::keys::KeyRing;
use crate::listen::{self, Gate};
use crate::state::AppState;
use crate::{api, portal, tls};

/// A built server, listeners bound, ready to run.
pub struct Application {
    api_listener: TcpListener,
    portal_listener: TcpListener,
    /// The Prometheus scrape listener and its router, when `metrics_addr` is set.
    metrics: Option<(TcpListener, axum::Router)>,
    api_router: axum::Router,
    portal_router: axum::Router,
    api_tls: TlsAcceptor,
    portal_tls: Option<TlsAcceptor>,
    /// Client certificate verification (the API's handshakes, forwarded certificates), whose
    /// revocation lists are reloaded while serving.
    client_verifier: Arc<tls::ClientVerifier>,
    state: AppState,
}

impl Application {
    /// Connects the store (running migrations), loads or creates the signing keys, binds both
    /// listeners (port 0 picks a free port) and assembles the routers.
    ///
    /// # Errors
    /// Store, TLS material or bind failures, each with its context.
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let store = dcr_store::Store::connect(config.database_url.expose())
            .await
            .with_context(|| format!("connecting to the store {:?}", config.database_url))?;
        let configured_key = config
            .signing_key
            .as_deref()
            .map(|p| (p, config.signing_kid.as_deref()));
        let keys = KeyRing::load(&store, clock.now(), configured_key).await?;
        let client_verifier = tls::ClientVerifier::load(&config.client_ca, &config.client_crls)
            .context("client CA and revocation lists")?;
        let api_cfg = tls::server_config(
            &config.tls_cert,
            &config.tls_key,
            Some(client_verifier.clone()),
        )
        .context("API listener TLS")?;
        let api_tls = TlsAcceptor::from(Arc::new(api_cfg));
        let portal_tls = if config.portal_tls {
            let cfg = tls::server_config(&config.tls_cert, &config.tls_key, None)
                .context("portal TLS")?;
            Some(TlsAcceptor::from(Arc::new(cfg)))
        } else {
            None
        };
        let api_listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding the API listener on {}", config.listen_addr))?;
        let portal_listener = TcpListener::bind(config.portal_addr)
            .await
            .with_context(|| format!("binding the portal listener on {}", config.portal_addr))?;
        let outbound = crate::outbound::Outbound::new(
            config.outbound_ca.as_deref(),
            config.outbound_timeout,
            config.max_response_bytes,
            crate::outbound::AddressGuard::new(config.outbound_allowed.clone()),
        )?;
        let forwarded_cert_verifier = config.client_cert_header.as_ref().map(|_| {
            client_verifier.clone() as Arc<dyn rustls::server::danger::ClientCertVerifier>
        });
        let provisioning = match &config.provisioning {
            Some(p) => Some(Arc::new(
                crate::provisioning::Provisioner::new(p.clone())
                    .context("provisioning: the downstream authorization server's client")?,
            )),
            None => None,
        };
        let state = AppState {
            provisioning,
            forwarded_cert_verifier,
            discovery: Arc::new(AppState::build_discovery(&config)),
            jwks: Arc::new(
                crate::jwks::JwksCache::new(outbound.clone(), config.jwks_ttl)
                    .with_grace(config.jwks_grace)
                    .with_register_uri(config.register_jwks_uri.as_str()),
            ),
            rate_limiter: Arc::new(crate::rate_limit::RateLimiter::new(
                config.rate_limit_cert,
                config.rate_limit_addr,
            )),
            sector_documents: Arc::new(crate::sector::SectorDocuments::new(
                outbound.clone(),
                config.sector_identifier_ttl_secs,
            )),
            outbound,
            registration_policy: Arc::new(AppState::build_policy(&config)),
            token_cache: Arc::new(crate::token_cache::TokenCache::default()),
            stats: Arc::new(crate::stats::Counts::default()),
            register_sync: Arc::new(crate::cdr_register::SyncHandle::new(
                api_listener.local_addr().ok(),
            )),
            config: config.clone(),
            store: store.clone(),
            clock: clock.clone(),
            keys: Arc::new(crate::keys::LiveKeys::new(keys, configured_key.is_some())),
        };
        crate::webhooks::publish_configuration(&state)
            .await
            .context("webhooks: writing the configured webhooks into the store")?;
        let metrics = match config.metrics_addr {
            Some(addr) => {
                let handle = crate::metrics::install()
                    .context("installing the metrics recorder (another one is installed)")?;
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics listener on {addr}"))?;
                let (sync, clock) = (state.register_sync.clone(), state.clock.clone());
                let sync_age: crate::metrics::SyncAge =
                    Arc::new(move || sync.last_success().map(|at| (clock.now() - at).max(0)));
                Some((listener, crate::metrics::router(handle, sync_age)))
            }
            None => None,
        };
        let api_router = api::router(state.clone());
        let portal_router = portal::router(
            app::ssr::PortalState {
                store,
                clock,
                provisioning_enabled: config.provisioning.is_some(),
            },
            config,
            state.keys.clone(),
        )?;
        Ok(Self {
            api_listener,
            portal_listener,
            metrics,
            api_router,
            portal_router,
            api_tls,
            portal_tls,
            client_verifier,
            state,
        })
    }

    /// Where the API listener is bound.
    ///
    /// # Errors
    /// Never in practice (the socket is bound).
    pub fn api_addr(&self) -> std::io::Result<SocketAddr> {
        self.api_listener.local_addr()
    }

    /// Where the portal listener is bound.
    ///
    /// # Errors
    /// Never in practice (the socket is bound).
    pub fn portal_addr(&self) -> std::io::Result<SocketAddr> {
        self.portal_listener.local_addr()
    }

    /// Where the metrics listener is bound, when metrics are on.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The shared state (tests reach the store through it).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves both listeners until `shutdown` resolves, then lets in-flight requests finish.
    ///
    /// # Errors
    /// None today; kept fallible for future listeners.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let grace = self.state.config.shutdown_grace;
        let purge = tokio::spawn(purge_loop(self.state.clone(), stopped(rx.clone())));
        let stats = tokio::spawn(crate::stats::run(
            self.state.stats.clone(),
            self.state.store.clone(),
            stopped(rx.clone()),
        ));
        let search_copy = tokio::spawn(search_copy_loop(
            self.state.store.clone(),
            stopped(rx.clone()),
        ));
        let checkpoints = tokio::spawn(crate::checkpoints::run(
            self.state.clone(),
            stopped(rx.clone()),
        ));
        let key_reload = tokio::spawn(crate::keys::reload_loop(
            self.state.keys.clone(),
            self.state.store.clone(),
            self.state.clock.clone(),
            stopped(rx.clone()),
        ));
        let crl_reload = tokio::spawn(tls::reload_loop(
            self.client_verifier.clone(),
            self.state.config.crl_check,
            stopped(rx.clone()),
        ));
        let register_sync = tokio::spawn(crate::cdr_register::run(
            self.state.clone(),
            self.state.register_sync.clone(),
            stopped(rx.clone()),
        ));
        let deliverer = self.state.provisioning.clone().map(|p| {
            tokio::spawn(crate::provisioning::deliver::run(
                self.state.clone(),
                p,
                stopped(rx.clone()),
            ))
        });
        let notifier = (!self.state.config.webhooks.is_empty()).then(|| {
            tokio::spawn(crate::webhooks::run(
                self.state.clone(),
                stopped(rx.clone()),
            ))
        });
        let reconciler = self.state.provisioning.clone().and_then(|p| {
            let every = p.config.reconcile_interval?;
            let repair = p.config.reconcile_repair;
            Some(tokio::spawn(crate::provisioning::reconcile::run_periodic(
                self.state.clone(),
                p,
                every,
                repair,
                stopped(rx.clone()),
            )))
        });
        tracing::info!(
            api = %self.api_listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            portal = %self.portal_listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            issuer = %self.state.config.issuer_str(),
            store = self.state.store.backend().as_str(),
            "serving"
        );
        let config = &self.state.config;
        if !config.cookie_secure {
            tracing::warn!(
                "portal cookies are not Secure (portal.cookie_secure = false): for local development on a loopback address only"
            );
        }
        let gate = |name| Gate::new(name, config.listener, config.trusted_proxies.clone());
        let api = listen::serve(
            self.api_listener,
            self.api_router,
            Some(self.api_tls),
            gate("api"),
            stopped(rx.clone()),
            grace,
        );
        let portal = listen::serve(
            self.portal_listener,
            self.portal_router,
            self.portal_tls,
            gate("portal"),
            stopped(rx.clone()),
            grace,
        );
        let metrics = async {
            if let Some((listener, router)) = self.metrics {
                let gate = gate("metrics");
                listen::serve(listener, router, None, gate, stopped(rx.clone()), grace).await;
            }
        };
        tokio::join!(api, portal, metrics);
        purge.abort();
        stats.abort();
        checkpoints.abort();
        search_copy.abort();
        // The counts of the last requests, now that they have all been answered.
        if let Err(e) = self.state.stats.flush(&self.state.store).await {
            tracing::warn!(error = %e, "the last overview counts could not be stored");
        }
        if let Err(e) = self.state.store.fold_counts().await {
            tracing::warn!(error = %e, "the latest registration changes could not be counted");
        }
        key_reload.abort();
        crl_reload.abort();
        // The poller gives its lease up on the way out, so that another instance takes over.
        let _ = tokio::time::timeout(Duration::from_secs(5), register_sync).await;
        for task in deliverer.into_iter().chain(reconciler).chain(notifier) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Removes expired `jti`s and sessions once a minute.
async fn purge_loop(state: AppState, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        match state.store.purge_expired(state.clock.now()).await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "purged expired jti and sessions"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge of expired entries failed"),
        }
    }
}

/// How often the registrations written since are copied into PostgreSQL's search copy, so that
/// a search finds at most this long's registrations left to copy before it can answer.
const SEARCH_COPY_EVERY: Duration = Duration::from_secs(1);

/// Keeps PostgreSQL's search copy and its statistics up to date (`Store::sync_search_copy`,
/// which a search runs itself too, and `Store::refresh_search_statistics`). Nothing to do on
/// SQLite.
async fn search_copy_loop(store: dcr_store::Store, stopped: impl std::future::Future<Output = ()>) {
    if store.backend() != dcr_store::Backend::Postgres {
        return;
    }
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(SEARCH_COPY_EVERY) => {}
        }
        if let Err(e) = store.sync_search_copy().await {
            tracing::warn!(error = %e, "portal search: the latest registrations could not be copied");
        }
        if let Err(e) = store.refresh_search_statistics().await {
            tracing::warn!(error = %e, "portal search: the copy's statistics could not be refreshed");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so that a signal arriving as soon as the server says it serves is
/// not met by the default action (termination without a graceful stop).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }
            _ => {
                tracing::warn!("signal handlers could not be installed; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
