#!/usr/bin/env bash
# Runs the Data Holder on the embedded default: SQLite in dev-data/, development certificates,
# a simulated CDR Register, and a freshly created administrator whose credentials are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/build-front.sh
log "building the server (release)"
cargo build --release -p server --bin dcr-server
BIN=$PWD/target/release/dcr-server
DATA=$PWD/dev-data
mkdir -p "$DATA"
"$BIN" dev-certs "$DATA/certs" >/dev/null

export DCR_TLS_CERT=$DATA/certs/server.pem DCR_TLS_KEY=$DATA/certs/server.key DCR_CLIENT_CA=$DATA/certs/ca.pem
export DCR_OUTBOUND_CA=$DATA/certs/ca.pem
export DCR_DATABASE_URL=${DCR_DATABASE_URL:-sqlite://$DATA/dcr.db}
export DCR_LISTEN_ADDR=${DCR_LISTEN_ADDR:-127.0.0.1:7443}
export DCR_PORTAL_ADDR=${DCR_PORTAL_ADDR:-127.0.0.1:7080}
export DCR_PORTAL_SITE_ROOT=$PWD/target/site

PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$PASSWORD" | "$BIN" admin add admin >/dev/null

cat <<MSG

  Portal:    http://$DCR_PORTAL_ADDR/
  Username:  admin
  Password:  $PASSWORD
  API:       https://$DCR_LISTEN_ADDR  (discovery: /.well-known/openid-configuration)
  Dev CA:    $DATA/certs/ca.pem   client certificate: $DATA/certs/client.pem

MSG
exec "$BIN" serve
