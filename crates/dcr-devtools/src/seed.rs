//! `dcr-dev seed`: synthetic registrations written straight into the store, for trying
//! the portal, browser tests and list performance at scale (`--count 100000`). Hidden from
//! `--help`: it is a development tool, and what it writes never went through `/register`.
//!
//! The data is deterministic (registration `n` always has the same ids, names and status), so
//! tests can rely on it. Statuses cycle through every kind the portal shows, and some names
//! are hostile markup, to prove the portal renders recipient data as text. The SSAs are
//! decodable but not signed.

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dcr_core::clock::{Clock as _, SystemClock};
use dcr_store::{Metadata, NewAuditEvent, Registration, RegistrationStatus, SeedRegistration};
use serde_json::json;

use server::config::RawConfig;

/// Arguments of `seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// How many registrations to add.
    #[arg(long, default_value_t = 100)]
    pub count: u32,
    /// Number of the first registration (seed again with a higher offset to add more).
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Do not write a creation audit event per registration.
    #[arg(long)]
    pub no_audit: bool,
    /// Audit events to add after the registrations (and their creation events), chained, over
    /// the last year: the Register's status changes, recipients' updates and, one in 100,000,
    /// an administrator's revocation, of the registrations just seeded.
    #[arg(long, default_value_t = 0)]
    pub events: u64,
}

const BRANDS: &[&str] = &[
    "Acme Money",
    "Billabong Budget",
    "Coral Finance",
    "Dingo Data",
    "Eucalypt Energy",
    "Flinders Analytics",
    "Gumtree Insights",
    "Harbour Lending",
    "Ironbark Advisory",
    "Jacaranda Wealth",
    "Kookaburra Compare",
    "Lorikeet Loans",
];

const PRODUCTS: &[&str] = &[
    "Budget Tracker",
    "Spend Insights",
    "Loan Compare",
    "Energy Saver",
    "Mortgage Check",
    "Tax Helper",
    "Savings Coach",
    "Bill Splitter",
];

const LEGAL_ENTITIES: &[&str] = &[
    "Outback Holdings Pty Ltd",
    "Southern Cross Data Pty Ltd",
    "Tasman Digital Pty Ltd",
    "Wattle Technologies Pty Ltd",
    "Yarra Software Pty Ltd",
];

/// Names a hostile recipient might choose; the portal must show them as text.
pub const HOSTILE_NAMES: &[&str] = &[
    "<img src=x onerror=alert(1)>",
    "\"><script>alert('xss')</script>",
];

fn id(kind: u16, n: u64) -> String {
    format!("{n:08x}-{kind:04x}-4000-8000-{n:012x}")
}

/// The `n`th synthetic registration, `now` being the newest's registration time.
#[must_use]
pub fn registration(n: u64, total: u64, first: u64, now: i64) -> SeedRegistration {
    let idx = |len: usize, salt: u64| usize::try_from((n / salt) % len as u64).unwrap_or(0);
    let brand_no = idx(BRANDS.len(), 3);
    let brand = BRANDS[brand_no];
    let product = PRODUCTS[idx(PRODUCTS.len(), 1)];
    let legal_no = brand_no % LEGAL_ENTITIES.len();
    let client_name = match n % 50 {
        7 => HOSTILE_NAMES[0].to_string(),
        13 => HOSTILE_NAMES[1].to_string(),
        _ => format!("{brand} {product} #{n}"),
    };
    let client_id = id(0xc1, n);
    let software_id = id(0x50f7, n);
    let org_id = id(0xb4, brand_no as u64);
    let legal_entity_id = id(0x1e, legal_no as u64);
    let host = format!("adr{brand_no}.example");
    let age = i64::try_from(first + total - 1 - n).unwrap_or(0);
    let created_at = now - age * 3_600;
    let updated_at = created_at + i64::try_from(n % 7).unwrap_or(0) * 600;
    let redirect_uris = vec![
        format!("https://{host}/callback"),
        format!("https://{host}/cb2"),
    ];
    let jwks_uri = format!("https://{host}/jwks");
    let scope = "openid profile cdr:registration bank:accounts.basic:read bank:transactions:read";
    let ssa_claims = json!({
        "iss": "cdr-register",
        "iat": created_at - 60,
        "exp": created_at + 540,
        "jti": id(0x55a, n),
        "legal_entity_id": legal_entity_id,
        "legal_entity_name": LEGAL_ENTITIES[legal_no],
        "org_id": org_id,
        "org_name": brand,
        "client_name": client_name,
        "client_description": format!("{product} by {brand}"),
        "client_uri": format!("https://{host}/"),
        "redirect_uris": redirect_uris,
        "logo_uri": format!("https://{host}/logo.png"),
        "tos_uri": format!("https://{host}/tos"),
        "policy_uri": format!("https://{host}/policy"),
        "jwks_uri": jwks_uri,
        "revocation_uri": format!("https://{host}/revoke"),
        "recipient_base_uri": format!("https://{host}"),
        "software_id": software_id,
        "software_roles": "data-recipient-software-product",
        "scope": scope,
    });
    let header = json!({ "alg": "PS256", "kid": "seed-register-key", "typ": "JWT" });
    let ssa = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(ssa_claims.to_string()),
        URL_SAFE_NO_PAD.encode("seeded, not signed")
    );
    let serde_json::Value::Object(metadata) = json!({
        "client_id": client_id,
        "client_id_issued_at": created_at,
        "client_name": client_name,
        "client_description": format!("{product} by {brand}"),
        "client_uri": format!("https://{host}/"),
        "org_id": org_id,
        "org_name": brand,
        "redirect_uris": redirect_uris,
        "logo_uri": format!("https://{host}/logo.png"),
        "tos_uri": format!("https://{host}/tos"),
        "policy_uri": format!("https://{host}/policy"),
        "jwks_uri": jwks_uri,
        "revocation_uri": format!("https://{host}/revoke"),
        "recipient_base_uri": format!("https://{host}"),
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "web",
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
        "software_id": software_id,
        "software_roles": "data-recipient-software-product",
        "scope": scope,
        "software_statement": ssa,
    }) else {
        unreachable!("a JSON object literal")
    };
    let (status, reason, sp, dr) = if n % 25 == 9 {
        (
            RegistrationStatus::Removed,
            Some("The CDR Register removed the software product"),
            "REMOVED",
            "ACTIVE",
        )
    } else {
        match n % 10 {
            3 => (
                RegistrationStatus::Revoked,
                Some("Seeded: revoked by an administrator"),
                "ACTIVE",
                "ACTIVE",
            ),
            6 => (RegistrationStatus::Deleted, None, "ACTIVE", "ACTIVE"),
            8 => (RegistrationStatus::Active, None, "INACTIVE", "ACTIVE"),
            _ => (RegistrationStatus::Active, None, "ACTIVE", "ACTIVE"),
        }
    };
    let registration = Registration {
        client_id: client_id.clone(),
        software_id: software_id.clone(),
        org_id,
        org_name: brand.to_string(),
        client_name,
        legal_entity_id: Some(legal_entity_id),
        legal_entity_name: Some(LEGAL_ENTITIES[legal_no].to_string()),
        jwks_uri,
        scope: scope.to_string(),
        status,
        status_reason: reason.map(str::to_string),
        register_sp_status: Some(sp.to_string()),
        register_dr_status: Some(dr.to_string()),
        register_synced_at: Some(now),
        ssa,
        metadata: Metadata::from(metadata),
        client_id_issued_at: created_at,
        created_at,
        updated_at,
    };
    let audit = NewAuditEvent {
        occurred_at: created_at,
        actor: format!("recipient:{software_id}"),
        action: "registration.create".into(),
        client_id: Some(client_id),
        software_id: Some(software_id),
        ..Default::default()
    };
    SeedRegistration {
        registration,
        audit: Some(audit),
    }
}

/// The `k`th of `events` further audit events over the year before `now`, about one of the
/// registrations `first..first + total`: the events sweep the registrations in the order of
/// their ids, so that the audit log's indexes (client id, actor) take them in order, as they do
/// the creation events (a random order made seeding ten million events take a quarter of an
/// hour).
#[must_use]
pub fn event(k: u64, events: u64, total: u64, first: u64, now: i64) -> NewAuditEvent {
    const YEAR: u64 = 365 * 86_400;
    let spread = u128::from(k) * u128::from(total) / u128::from(events.max(1));
    let n = first + u64::try_from(spread).unwrap_or(0);
    let client_id = id(0xc1, n);
    let software_id = id(0x50f7, n);
    let ago = i64::try_from((events - k) * YEAR / events.max(1)).unwrap_or(0);
    let (actor, action, reason, before, after) = if k % 100_000 == 99_999 {
        (
            "admin:seed".to_string(),
            "registration.revoke",
            Some("Seeded: revoked by an administrator".to_string()),
            r#"{"status":"active"}"#,
            r#"{"status":"revoked"}"#,
        )
    } else if k.is_multiple_of(3) {
        let (before, after) = if k.is_multiple_of(2) {
            (
                r#"{"register_sp_status":"ACTIVE"}"#,
                r#"{"register_sp_status":"INACTIVE"}"#,
            )
        } else {
            (
                r#"{"register_sp_status":"INACTIVE"}"#,
                r#"{"register_sp_status":"ACTIVE"}"#,
            )
        };
        (
            "register-sync".to_string(),
            "registration.register_status",
            None,
            before,
            after,
        )
    } else {
        (
            format!("recipient:{software_id}"),
            "registration.update",
            None,
            r#"{"status":"active"}"#,
            r#"{"status":"active"}"#,
        )
    };
    NewAuditEvent {
        occurred_at: now - ago,
        actor,
        action: action.into(),
        client_id: Some(client_id),
        software_id: Some(software_id),
        reason,
        before_state: Some(before.into()),
        after_state: Some(after.into()),
    }
}

/// The server's store, as its configuration (`config`, then the environment) names it.
///
/// # Errors
/// Configuration or connection failures.
pub async fn configured_store(
    config: Option<&std::path::Path>,
) -> anyhow::Result<dcr_store::Store> {
    let raw = RawConfig::load(config, &|k| std::env::var(k).ok())?;
    let url = raw.database.url.unwrap_or_else(|| "sqlite://dcr.db".into());
    dcr_store::Store::connect(&url)
        .await
        .context("connecting to the store")
}

/// Runs `dev-seed`.
///
/// # Errors
/// Configuration, store or conflicting rows (seeding the same offset twice).
pub async fn run_cli(config: Option<&std::path::Path>, args: SeedArgs) -> anyhow::Result<()> {
    let store = configured_store(config).await?;
    let now = SystemClock.now();
    let first = u64::from(args.offset);
    let total = u64::from(args.count);
    let started = std::time::Instant::now();
    let mut done = 0u64;
    for chunk_start in (first..first + total).step_by(5_000) {
        let end = (chunk_start + 5_000).min(first + total);
        let seeds: Vec<SeedRegistration> = (chunk_start..end)
            .map(|n| {
                let mut s = registration(n, total, first, now);
                if args.no_audit {
                    s.audit = None;
                }
                s
            })
            .collect();
        store
            .insert_registrations_bulk(&seeds)
            .await
            .with_context(|| format!("inserting registrations {chunk_start} to {}", end - 1))?;
        done += end - chunk_start;
        if total > 10_000 && (done.is_multiple_of(100_000) || done == total) {
            eprintln!("  {done} of {total}");
        }
    }
    let mut added = 0u64;
    for chunk_start in (0..args.events).step_by(50_000) {
        let end = (chunk_start + 50_000).min(args.events);
        let events: Vec<NewAuditEvent> = (chunk_start..end)
            .map(|k| event(k, args.events, total, first, now))
            .collect();
        store
            .insert_audit_events_bulk(&events)
            .await
            .with_context(|| format!("inserting audit events {chunk_start} to {}", end - 1))?;
        added += end - chunk_start;
        if added.is_multiple_of(1_000_000) || added == args.events {
            eprintln!("  {added} of {} audit events", args.events);
        }
    }
    store.close().await;
    println!(
        "seeded {done} synthetic registrations ({} to {}) and {added} further audit events in {:.1} s",
        first,
        first + total - 1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_deterministic_varied_and_decodable() {
        let a = registration(7, 100, 0, 1_000_000);
        let b = registration(7, 100, 0, 1_000_000);
        assert_eq!(a.registration, b.registration);
        assert_eq!(a.registration.client_name, HOSTILE_NAMES[0]);
        let claims = dcr_core::jose::decode_claims_unverified(&a.registration.ssa).unwrap();
        assert_eq!(claims["software_id"], a.registration.software_id.as_str());
        let statuses: std::collections::HashSet<_> = (0..50)
            .map(|n| dcr_store::StatusFilter::of(&registration(n, 50, 0, 0).registration))
            .collect();
        assert_eq!(statuses.len(), 5, "every status appears: {statuses:?}");
        assert!(registration(99, 100, 0, 1_000).registration.created_at == 1_000);
    }

    #[test]
    fn further_events_sweep_the_seeded_registrations_over_a_year() {
        let now = 2_000_000_000;
        let events: Vec<_> = (0..300_000)
            .map(|k| event(k, 300_000, 1_000, 50, now))
            .collect();
        assert_eq!(
            format!("{:?}", events[7]),
            format!("{:?}", event(7, 300_000, 1_000, 50, now)),
            "deterministic"
        );
        // About the seeded registrations, in the order of their ids.
        assert_eq!(events[0].client_id.as_deref(), Some(id(0xc1, 50).as_str()));
        assert_eq!(
            events[299_999].client_id.as_deref(),
            Some(id(0xc1, 1_049).as_str())
        );
        assert!(events.windows(2).all(|w| w[0].client_id <= w[1].client_id));
        // Over the last year, oldest first.
        assert!(events[0].occurred_at >= now - 365 * 86_400);
        assert!(events
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at));
        assert!(events.iter().all(|e| e.occurred_at < now));
        let actors: std::collections::HashSet<_> = events
            .iter()
            .map(|e| e.actor.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            actors.len(),
            3,
            "the Register, recipients and an administrator: {actors:?}"
        );
    }
}
