//! Single sign-on through the Data Holder's OpenID Connect provider (`[portal.sso]`): the
//! authorization code flow with PKCE (S256), `state` and `nonce`, the portal as a confidential
//! client (`client_secret_basic`), the ID token verified with the `openidconnect` crate against
//! the provider's discovery document and JWKS (issuer, audience, expiry, signature by one of
//! the provider's asymmetric keys, nonce). docs/portal.md, "Single sign-on".
//!
//! # The flow cookie
//! The provider sends the browser back from another site, and the portal's session cookie is
//! `SameSite=Strict`: the browser does not send it with that request. What the callback needs
//! (state, nonce, PKCE verifier, where to go next, when it began) therefore travels in a cookie
//! of its own, `HttpOnly` and `SameSite=Lax` (sent with a top-level navigation from another
//! site), for ten minutes, removed by the callback. It holds nothing that would help anyone but
//! the browser that began the flow: the state ties the answer to that browser, the nonce ties
//! the ID token to it, and the verifier is useless without the code. The callback then answers
//! with a small page that moves on to the portal, so that the next request is one the browser
//! starts from the portal itself and carries the new session cookie.
//!
//! # Accounts
//! An account is keyed by `<issuer> <sub>`; it is made at the first sign-on with the username
//! from the configured claim, and its role follows the role claim at every sign-on. When the
//! claim no longer maps to a role, the sign-on is refused and the account's sessions end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::dto::Role;
use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use base64::Engine as _;
use dcr_audit::{Action, Actor};
use dcr_store::{NewAuditEvent, SsoSignIn};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use crate::config::SsoConfig;
use crate::portal::auth::{audit, back_to_login, client_address, finish_sign_in, Landing};
use crate::portal::PortalCtx;
use crate::tls::ConnectionInfo;

/// The client of the provider's discovered endpoints.
type SsoClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long discovered metadata (endpoints and keys) is used before it is read again.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// How long a begun sign-on may take at the provider.
const FLOW_SECS: i64 = 600;
/// Most bytes of a flow cookie read back.
const MAX_FLOW_COOKIE: usize = 4096;
/// ID token signatures accepted: the provider's asymmetric keys only (never an HMAC with the
/// client secret, which this server also knows).
const SIGNING_ALGS: [CoreJwsSigningAlgorithm; 6] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// The portal's single sign-on: its configuration, HTTP client and the provider's metadata.
pub struct Sso {
    config: SsoConfig,
    http: reqwest::Client,
    discovered: tokio::sync::RwLock<Option<(Instant, Arc<SsoClient>)>>,
}

/// Why a sign-on failed, for the log and the audit trail (the browser is told less).
#[derive(Debug, thiserror::Error)]
enum SsoError {
    #[error("the identity provider could not be reached or read: {0}")]
    Unavailable(String),
    #[error("the answer from the identity provider was refused: {0}")]
    Refused(String),
}

impl Sso {
    /// The single sign-on of `config`.
    ///
    /// # Errors
    /// An unreadable CA file, or a TLS configuration failure.
    pub fn new(config: SsoConfig) -> anyhow::Result<Self> {
        let http =
            crate::tls::https_client(config.ca.as_deref(), config.timeout, "identity provider")?;
        Ok(Self {
            config,
            http,
            discovered: tokio::sync::RwLock::new(None),
        })
    }

    /// The sign-in button's text.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// The client of the provider's current metadata: the one kept unless older than
    /// [`METADATA_TTL`] or `fresh` is asked for (after a signature by an unknown key).
    async fn client(&self, fresh: bool) -> Result<Arc<SsoClient>, SsoError> {
        if !fresh {
            if let Some((at, client)) = self.discovered.read().await.as_ref() {
                if at.elapsed() < METADATA_TTL {
                    return Ok(client.clone());
                }
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SsoError::Unavailable(format!("issuer: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SsoError::Unavailable(error_chain(&e)))?;
        let redirect = RedirectUrl::from_url(self.config.redirect_uri.clone());
        let client = Arc::new(
            CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(self.config.client_id.clone()),
                Some(ClientSecret::new(
                    self.config.client_secret.expose().to_string(),
                )),
            )
            .set_redirect_uri(redirect),
        );
        *self.discovered.write().await = Some((Instant::now(), client.clone()));
        Ok(client)
    }

    /// The role the highest of `claims`' role-claim values gives, if any.
    fn role_of(&self, claims: &Value) -> Option<Role> {
        let values: Vec<&str> = match claims.get(&self.config.role_claim) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        // Configured highest role first.
        self.config
            .roles
            .iter()
            .find(|(_, mapped)| mapped.iter().any(|m| values.contains(&m.as_str())))
            .map(|(role, _)| *role)
    }

    /// The username an account made for `claims` gets: the configured claim, else
    /// `preferred_username`, `email`, then `sub`; lower-cased, without control characters, at
    /// most 128 characters.
    fn username_of(&self, claims: &Value, sub: &str) -> String {
        let named = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let chosen = match &self.config.username_claim {
            Some(claim) => named(claim),
            None => named("preferred_username").or_else(|| named("email")),
        }
        .unwrap_or(sub);
        chosen
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect::<String>()
            .to_lowercase()
    }
}

/// What the callback needs, kept in the flow cookie.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    at: i64,
}

fn flow_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dcr_sso"
    } else {
        "dcr_sso"
    }
}

fn flow_cookie(ctx: &PortalCtx, value: &str, max_age: i64) -> HeaderValue {
    let secure = ctx.config.cookie_secure;
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        flow_cookie_name(secure),
        if secure { "; Secure" } else { "" }
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("dcr_sso=; Path=/; Max-Age=0"))
}

fn read_flow(ctx: &PortalCtx, headers: &HeaderMap) -> Option<Flow> {
    let prefix = format!("{}=", flow_cookie_name(ctx.config.cookie_secure));
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(prefix.as_str()))?;
    if value.len() > MAX_FLOW_COOKIE {
        return None;
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// The causes of an error, outermost first (the crate's errors wrap the transport's).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `?next=` of the start.
#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: String,
}

/// `GET /auth/sso/start`: sends the browser to the provider. A link, not a form: the portal's
/// `form-action 'self'` would stop a form's redirect to the provider.
pub async fn start(Extension(ctx): Extension<PortalCtx>, Query(q): Query<StartQuery>) -> Response {
    let Some(sso) = ctx.sso.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let next = crate::portal::auth::safe_next(&q.next).map(str::to_string);
    let client = match sso.client(false).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on: the identity provider is unavailable");
            crate::metrics::sign_in("sso_unavailable");
            return back_to_login("sso_unavailable", next.as_deref());
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in &sso.config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let flow = Flow {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next: next.unwrap_or_default(),
        at: ctx.state.clock.now(),
    };
    let Ok(json) = serde_json::to_vec(&flow) else {
        return back_to_login("unavailable", None);
    };
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let mut res = Redirect::to(url.as_str()).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, flow_cookie(&ctx, &value, FLOW_SECS));
    res
}

/// The provider's answer (RFC 6749 §4.1.2, §4.1.2.1).
#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A verified sign-on: the subject, its claims, the username and role they give.
struct Verified {
    subject: String,
    username: String,
    role: Option<Role>,
}

/// `GET /auth/sso/callback`: the provider's answer. Every outcome removes the flow cookie.
pub async fn callback(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let mut res = finish(&ctx, conn.as_deref(), &headers, &session, q).await;
    res.headers_mut()
        .append(header::SET_COOKIE, flow_cookie(&ctx, "", 0));
    res
}

async fn finish(
    ctx: &PortalCtx,
    conn: Option<&ConnectionInfo>,
    headers: &HeaderMap,
    session: &Session,
    q: CallbackQuery,
) -> Response {
    let Some(sso) = ctx.sso.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn, headers);
    let Some(flow) = read_flow(ctx, headers) else {
        // No sign-on was begun in this browser (or it took too long, or the link was opened
        // elsewhere): nothing to finish.
        tracing::info!(target: "security", peer = %addr, "single sign-on answer without a flow in this browser");
        return back_to_login("sso_expired", None);
    };
    let next = crate::portal::auth::safe_next(&flow.next).map(str::to_string);
    let back = |error: &str| back_to_login(error, next.as_deref());
    let state_matches = q
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    if !state_matches {
        tracing::warn!(target: "security", peer = %addr, "single sign-on answer with a state this browser did not send");
        crate::metrics::sign_in("sso_refused");
        return back("sso_failed");
    }
    if now - flow.at > FLOW_SECS || now < flow.at {
        return back("sso_expired");
    }
    if let Some(error) = q.error.as_deref() {
        // The provider refused (the person cancelled, or is not allowed this client).
        let error: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        tracing::info!(target: "security", peer = %addr, error = %error, "single sign-on refused by the identity provider");
        crate::metrics::sign_in("sso_refused");
        return back("sso_denied");
    }
    let Some(code) = q.code else {
        return back("sso_failed");
    };
    let verified = match verify(&sso, code, &flow).await {
        Ok(v) => v,
        Err(e @ SsoError::Unavailable(_)) => {
            tracing::warn!(error = %e, "single sign-on: the identity provider is unavailable");
            crate::metrics::sign_in("sso_unavailable");
            return back("sso_unavailable");
        }
        Err(e @ SsoError::Refused(_)) => {
            tracing::warn!(target: "security", peer = %addr, error = %e, "single sign-on refused");
            crate::metrics::sign_in("sso_refused");
            failed(ctx, now, &addr, None, &e.to_string()).await;
            return back("sso_failed");
        }
    };
    let Some(role) = verified.role else {
        refuse_unmapped(ctx, now, &addr, &verified).await;
        return back("sso_no_role");
    };
    let created = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Sso.into(),
        action: Action::AdminCreate.into(),
        after_state: Some(
            serde_json::json!({
                "username": verified.username,
                "role": role.as_str(),
                "source": "single sign-on",
            })
            .to_string(),
        ),
        ..Default::default()
    };
    let role_changed = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Sso.into(),
        action: Action::AdminRoleChange.into(),
        reason: Some("the identity provider's claim".into()),
        ..Default::default()
    };
    let outcome = ctx
        .state
        .store
        .sso_sign_in(
            &uuid::Uuid::new_v4().to_string(),
            &verified.subject,
            &verified.username,
            role.as_str(),
            &created,
            &role_changed,
        )
        .await;
    let user = match outcome {
        Ok(SsoSignIn::SignedIn(user)) => user,
        Ok(SsoSignIn::Disabled) => {
            failed(
                ctx,
                now,
                &addr,
                Some(&verified.username),
                "account disabled",
            )
            .await;
            return back("disabled");
        }
        Ok(SsoSignIn::UsernameTaken) => {
            failed(
                ctx,
                now,
                &addr,
                None,
                "the username the identity provider gives is a local account's",
            )
            .await;
            return back("sso_taken");
        }
        Err(e) => {
            tracing::error!(error = %e, "single sign-on: store failure");
            return back("unavailable");
        }
    };
    if session.cycle_id().await.is_err() {
        return back("unavailable");
    }
    session.clear().await;
    finish_sign_in(
        ctx,
        session,
        &user,
        &addr,
        headers,
        next.as_deref(),
        now,
        ("single sign-on", Landing::Page),
    )
    .await
}

/// Exchanges the code (with the PKCE verifier) and verifies the ID token; a signature by a key
/// the kept metadata does not know is tried once more against freshly discovered keys.
async fn verify(sso: &Sso, code: String, flow: &Flow) -> Result<Verified, SsoError> {
    let client = sso.client(false).await?;
    let exchange = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| SsoError::Unavailable(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()));
    let tokens = exchange
        .request_async(&sso.http)
        .await
        .map_err(|e| match &e {
            openidconnect::RequestTokenError::ServerResponse(r) => {
                SsoError::Refused(format!("token endpoint: {}", r.error()))
            }
            _ => SsoError::Unavailable(error_chain(&e)),
        })?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| SsoError::Refused("no ID token in the token response".into()))?;
    let nonce = Nonce::new(flow.nonce.clone());
    let checked = |client: &SsoClient| {
        let verifier = client.id_token_verifier().set_allowed_algs(SIGNING_ALGS);
        id_token
            .claims(&verifier, &nonce)
            .map(|c| c.subject().to_string())
    };
    let sub = match checked(&client) {
        Ok(sub) => sub,
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            let fresh = sso.client(true).await?;
            checked(&fresh).map_err(|e| SsoError::Refused(format!("ID token: {e}")))?
        }
        Err(e) => return Err(SsoError::Refused(format!("ID token: {e}"))),
    };
    // The token's claims, read from the payload of the token just verified.
    let compact = id_token.to_string();
    let claims: Value = compact
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or_else(|| SsoError::Refused("ID token payload unreadable".into()))?;
    Ok(Verified {
        subject: format!("{} {sub}", sso.config.issuer),
        username: sso.username_of(&claims, &sub),
        role: sso.role_of(&claims),
    })
}

/// A sign-on whose claims no longer give a role: refused, and the account's sessions end.
async fn refuse_unmapped(ctx: &PortalCtx, now: i64, addr: &str, v: &Verified) {
    let store = &ctx.state.store;
    tracing::warn!(target: "security", peer = %addr, username = %v.username, "single sign-on refused: no role maps from the identity provider's claim");
    crate::metrics::sign_in("sso_no_role");
    let account = match store.find_sso_admin(&v.subject).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "single sign-on: store failure");
            None
        }
    };
    failed(
        ctx,
        now,
        addr,
        Some(&v.username),
        "no role maps from the identity provider's claim",
    )
    .await;
    let Some(account) = account else { return };
    match store
        .end_sessions_of(&account.username, dcr_store::EndSessions::AllBut(None))
        .await
    {
        Ok(ended) => {
            audit(
                ctx,
                NewAuditEvent {
                    occurred_at: now,
                    actor: Actor::Sso.into(),
                    action: Action::AdminSessionsEnded.into(),
                    reason: Some("no role maps from the identity provider's claim".into()),
                    after_state: Some(
                        serde_json::json!({ "username": account.username, "sessions": ended })
                            .to_string(),
                    ),
                    ..Default::default()
                },
            )
            .await;
        }
        Err(e) => tracing::error!(error = %e, "single sign-on: ending sessions failed"),
    }
}

/// Audits a refused sign-on.
async fn failed(ctx: &PortalCtx, now: i64, addr: &str, username: Option<&str>, reason: &str) {
    audit(
        ctx,
        NewAuditEvent {
            occurred_at: now,
            actor: Actor::Sso.into(),
            action: Action::AdminSignInFailed.into(),
            reason: Some(reason.to_string()),
            after_state: Some(
                serde_json::json!({
                    "method": "single sign-on",
                    "username": username,
                    "address": addr,
                })
                .to_string(),
            ),
            ..Default::default()
        },
    )
    .await;
}

/// The page the callback answers a sign-on with: it moves on to the portal from the portal's
/// own page, so the browser sends the new session cookie (`SameSite=Strict`) with that request.
pub(crate) fn continue_page(to: &str) -> Response {
    let to = html_escape(to);
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Signed in · DCR Admin</title>\
         </head><body><p>Signed in. <a href=\"{to}\">Continue to the portal</a></p></body></html>"
    );
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(body),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_continue_page_escapes_its_target() {
        let page = html_escape("/x?a=1&b=\"><script>");
        assert_eq!(page, "/x?a=1&amp;b=&quot;&gt;&lt;script&gt;");
    }
}
