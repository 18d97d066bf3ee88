//! `dcr-server export registrations|audit --format csv|jsonl [filters] [--output FILE]`: the
//! portal's exports from the command line, on the store directly, streamed to standard output
//! or a file (see [`crate::export`] for the formats). Each export is an audit event with actor
//! `cli`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use dcr_audit::Actor;
use dcr_core::clock::{Clock as _, SystemClock};
use dcr_store::{Sort, StatusFilter};
use futures::TryStreamExt as _;
use std::io::Write as _;

use crate::export::{AuditFilters, Format, RegistrationFilters};

/// `export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The registration list, filtered and sorted as on the portal's list.
    Registrations {
        /// Free text, as the list's search (every word in a name or an id).
        #[arg(long)]
        search: Option<String>,
        /// active, inactive (at the Register), revoked, released, deleted or removed.
        #[arg(long, value_parser = parse_status)]
        status: Option<StatusFilter>,
        /// created_desc (default), created_asc, updated_desc, name_asc or name_desc.
        #[arg(long, value_parser = parse_sort, default_value = "created_desc")]
        sort: Sort,
        /// Format and destination.
        #[command(flatten)]
        out: Output,
    },
    /// The audit log, newest event first, filtered as on the audit page (whole values in any
    /// case, days in UTC).
    Audit {
        /// Only events about this registration.
        #[arg(long)]
        client_id: Option<String>,
        /// Only events by this actor (`admin:<username>`, `recipient:<software_id>`, `cli`, ...).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (`registration.revoke`, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only events on or after this day (YYYY-MM-DD, UTC).
        #[arg(long, value_parser = parse_day)]
        from: Option<String>,
        /// Only events on or before this day (YYYY-MM-DD, UTC).
        #[arg(long, value_parser = parse_day)]
        to: Option<String>,
        /// Format and destination.
        #[command(flatten)]
        out: Output,
    },
}

/// Where an export goes and how.
#[derive(Debug, Args)]
pub struct Output {
    /// csv or jsonl.
    #[arg(long, value_enum)]
    format: Format,
    /// Write to this file (created or truncated) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_status(s: &str) -> Result<StatusFilter, String> {
    StatusFilter::parse(s)
        .ok_or_else(|| "one of active, inactive, revoked, released, deleted, removed".to_string())
}

fn parse_day(s: &str) -> Result<String, String> {
    app::ssr::day_start(s)
        .map(|_| s.trim().to_string())
        .ok_or_else(|| "a day as YYYY-MM-DD".to_string())
}

fn parse_sort(s: &str) -> Result<Sort, String> {
    Sort::parse(s).ok_or_else(|| {
        "one of created_desc, created_asc, updated_desc, name_asc, name_desc".to_string()
    })
}

/// Runs an `export` subcommand.
///
/// # Errors
/// Store failures, or the output cannot be written.
pub async fn export(config: Option<&std::path::Path>, cmd: ExportCommand) -> anyhow::Result<()> {
    let url = crate::cli::store_url(config)?;
    let store = dcr_store::Store::connect(&url)
        .await
        .with_context(|| format!("connecting to the store {}", dcr_store::redact_url(&url)))?;
    let now = SystemClock.now();
    let (body, out) = match cmd {
        ExportCommand::Registrations {
            search,
            status,
            sort,
            out,
        } => {
            let filters = RegistrationFilters {
                search: app::dto::clean_text(search.as_deref().unwrap_or_default()),
                status,
                sort,
            };
            let body =
                crate::export::registrations(&store, Actor::Cli, &filters, out.format, now).await;
            (body, out)
        }
        ExportCommand::Audit {
            client_id,
            actor,
            action,
            from,
            to,
            out,
        } => {
            let filters = AuditFilters::from_params([
                client_id.as_deref().unwrap_or_default(),
                actor.as_deref().unwrap_or_default(),
                action.as_deref().unwrap_or_default(),
                from.as_deref().unwrap_or_default(),
                to.as_deref().unwrap_or_default(),
            ]);
            let body = crate::export::audit(&store, Actor::Cli, &filters, out.format, now).await;
            (body, out)
        }
    };
    let result = async {
        let mut body = body.context("recording the export in the audit log")?;
        // Plain blocking writes (the command's runtime has worker threads to spare), buffered.
        let sink: Box<dyn std::io::Write + Send> = match &out.output {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ),
            None => Box::new(std::io::stdout()),
        };
        let mut sink = std::io::BufWriter::with_capacity(64 * 1024, sink);
        while let Some(chunk) = body.try_next().await.context("reading the store")? {
            tokio::task::block_in_place(|| sink.write_all(&chunk)).context("writing the export")?;
        }
        tokio::task::block_in_place(|| sink.flush()).context("writing the export")?;
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}
