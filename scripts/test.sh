#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests, store contract and API integration tests on
# SQLite and on a throwaway PostgreSQL cluster (the provisioning ones against node-oidc-provider
# as the downstream authorization server), and the Playwright browser tests against a release
# build in Debian's Chromium, then schemathesis against the served OpenAPI document.
# Installs what is missing first; quick when nothing is.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
START=$(date +%s)

# libssl-dev and pkg-config: webauthn-rs (the portal's passkeys) builds on OpenSSL.
ensure_apt postgresql chromium libssl-dev pkg-config
# The provisioning tests start node-oidc-provider as the downstream authorization server.
ensure_downstream_as

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
log "dependency rule: dcr-core has no I/O crates"
# `--prefix none` prints one crate per line without tree indentation; a failing `cargo tree` fails
# the run (its output is captured first, so the grep cannot hide it).
core_deps=$(cargo tree -e normal -p dcr-core --prefix none)
if grep -E '^(tokio|sqlx|axum|hyper|leptos|leptos_[a-z]+|reqwest|rusqlite|mio) ' <<<"$core_deps"; then
  echo "dcr-core must not depend on I/O crates"; exit 1
fi
log "unit and integration tests (SQLite and PostgreSQL)"
# Bounded: a hung test fails the run with its name instead of stalling it.
timeout 2400 cargo test --workspace --exclude frontend
log "browser tests"
scripts/e2e.sh
log "OpenAPI conformance (schemathesis against the live server)"
scripts/openapi-check.sh
scripts/abuse.sh --quick
scripts/abuse.sh --quick --postgres
log "all tests passed in $(( $(date +%s) - START )) s"
