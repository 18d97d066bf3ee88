#!/usr/bin/env bash
# Live conformance check of the OpenAPI document: starts the release server on a fresh SQLite
# store with dev certificates, and runs schemathesis (from PyPI, in a venv under ~/.cache) against
# {issuer}/openapi.json with the dev client certificate and real registrations. Checks: every
# schemathesis check, among them no 5xx (`not_a_server_error`), statuses, content types, headers
# and bodies as documented, 405 with `Allow` for undocumented methods, invalid input refused. Not
# `positive_data_acceptance`: a schema-valid body is still refused unless it carries valid
# signatures by registered keys, which a generator cannot make. The run fails as well when an
# operation never gets past authentication (only 401/403: schemathesis's `missing_auth` warning)
# or never finds its data (404s: `missing_test_data`), since it then tests nothing behind them.
# Bounded (well under a minute).
# Arguments go to `schemathesis run` (e.g. `--max-examples 200`). DCR_BIN and DCR_DEV_BIN override
# the binaries (`dcr-server`, and `dcr-dev` for the certificates, the Register simulator and the
# recipients).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

VENV=${SCHEMATHESIS_VENV:-$HOME/.cache/dcr-schemathesis}
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -z "${DCR_BIN:-}" ] || [ -z "${DCR_DEV_BIN:-}" ]; then
  log "building the release server"
  cargo build --release -p server --bin dcr-server -p dcr-devtools --bin dcr-dev
  DCR_BIN=$PWD/target/release/dcr-server DCR_DEV_BIN=$PWD/target/release/dcr-dev
fi

WORK=$(mktemp -d -t dcr-openapi-XXXXXX)
PID= SIM_PID=
cleanup() {
  for pid in $PID $SIM_PID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
"$DCR_DEV_BIN" certs "$WORK/certs" >/dev/null

# The CDR Register simulator with two software products, whose recipients live in $WORK/adr and
# $WORK/adr-delete. Both register for real, so that the management operations are exercised with
# valid tokens: DELETE ends the second registration, and GET and PUT keep the first all along.
PRODUCT=2f6c1a9e-8b3d-4e5f-a1c2-9d8e7f6a5b4c BRAND=7c9e6679-7425-40de-944b-e07fc1f90ae7
DELETE_PRODUCT=9b1d3c5e-7f2a-4c6b-8d0e-1a3b5c7d9e2f DELETE_BRAND=3e5a7c9b-1d2f-4a6c-8e0b-2c4d6f8a0b1c
"$DCR_DEV_BIN" adr init "$WORK/adr" --certs "$WORK/certs" --product $PRODUCT --brand $BRAND >/dev/null
"$DCR_DEV_BIN" adr init "$WORK/adr-delete" --certs "$WORK/certs" \
  --product $DELETE_PRODUCT --brand $DELETE_BRAND >/dev/null
SIM_ADDR=127.0.0.1:$(free_port)
SIM_URL=https://localhost:${SIM_ADDR##*:}
"$DCR_DEV_BIN" register-sim --listen "$SIM_ADDR" --public-url "$SIM_URL" \
  --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" --data "$WORK/register-sim.json" \
  --demo-jwks "$WORK/adr/jwks.json" >"$WORK/register-sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 50); do
  "$DCR_DEV_BIN" register-sim list --url "$SIM_URL" --ca "$WORK/certs/ca.pem" >/dev/null 2>&1 && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/register-sim.log"; exit 1; }
  sleep 0.2
done
"$DCR_DEV_BIN" register-sim add-product --url "$SIM_URL" --ca "$WORK/certs/ca.pem" \
  --name "Deletion target" --id $DELETE_PRODUCT --brand-id $DELETE_BRAND \
  --jwks-file "$WORK/adr-delete/jwks.json" >/dev/null

API_PORT=$(free_port)
export DCR_TLS_CERT=$WORK/certs/server.pem DCR_TLS_KEY=$WORK/certs/server.key DCR_CLIENT_CA=$WORK/certs/ca.pem
# Recipients (the simulator serves their JWKS) run on loopback here.
export DCR_OUTBOUND_ALLOWED_ADDRESSES=127.0.0.1,::1
# the portal is plain HTTP on loopback here: cookies cannot be Secure
export DCR_COOKIE_SECURE=false
export DCR_OUTBOUND_CA=$WORK/certs/ca.pem
export DCR_REGISTER_JWKS_URI=$SIM_URL/cdr-register/v1/jwks DCR_REGISTER_BASE_URI=$SIM_URL
export DCR_DATABASE_URL=sqlite://$WORK/dcr.db
export DCR_LISTEN_ADDR=127.0.0.1:$API_PORT DCR_PORTAL_ADDR=127.0.0.1:$(free_port)
export DCR_ISSUER=https://localhost:$API_PORT
export DCR_PORTAL_SITE_ROOT=$WORK/site
# One certificate sends every request; the limits have their own tests (tests/api/rate_limit.rs).
export DCR_RATE_LIMIT_PER_MINUTE=0
export DCR_LOG_FORMAT=json

"$DCR_BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
CURL_TLS=(--cacert "$WORK/certs/ca.pem" --cert "$WORK/certs/client.pem" --key "$WORK/certs/client.key")
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "${CURL_TLS[@]}" "$DCR_ISSUER/healthz" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.1
done

# Real registrations, and tokens bound to the same client certificate schemathesis sends.
export DCR_ADR_DATA_HOLDER=$DCR_ISSUER DCR_ADR_REGISTER=$SIM_URL
register() { # <recipient directory>: registers, and writes its token to token.json there
  DCR_ADR_DIR=$1 "$DCR_DEV_BIN" adr register >"$1/register.json" 2>>"$WORK/adr.log" || {
    cat "$WORK/adr.log"; tail -20 "$WORK/server.log"; exit 1; }
  DCR_ADR_DIR=$1 "$DCR_DEV_BIN" adr token >"$1/token.json" 2>>"$WORK/adr.log" || {
    cat "$WORK/adr.log"; exit 1; }
}
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
register "$WORK/adr"
register "$WORK/adr-delete"
export DCR_CLIENT_ID DCR_ACCESS_TOKEN DCR_DELETE_CLIENT_ID DCR_DELETE_ACCESS_TOKEN
DCR_CLIENT_ID=$(json_field "$WORK/adr/state.json" client_id)
DCR_ACCESS_TOKEN=$(json_field "$WORK/adr/token.json" access_token)
DCR_DELETE_CLIENT_ID=$(json_field "$WORK/adr-delete/state.json" client_id)
DCR_DELETE_ACCESS_TOKEN=$(json_field "$WORK/adr-delete/token.json" access_token)
cat >"$WORK/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${DCR_ACCESS_TOKEN}" }

[parameters]
"path.client_id" = "${DCR_CLIENT_ID}"

[warnings]
fail-on = ["missing_auth", "missing_test_data"]

# DELETE ends the registration it names (every later call with its token is a 401): it works on
# a registration of its own, so that GET and PUT keep theirs for the whole run.
[[operations]]
include-operation-id = "deleteRegistration"
headers = { Authorization = "Bearer ${DCR_DELETE_ACCESS_TOKEN}" }
parameters = { "path.client_id" = "${DCR_DELETE_CLIENT_ID}" }

# Admin Metadata Update takes only a single-use JWT signed by the CDR Register's key, which a
# generator cannot make: every call is a 401 here, so its missing-authentication warning is off.
# tests/api/register_sync.rs covers the accepted calls.
[[operations]]
include-operation-id = "adminMetadataUpdate"
warnings = { display = ["missing_test_data"], fail-on = ["missing_test_data"] }
TOML

log "schemathesis against $DCR_ISSUER/openapi.json"
status=0
# From $WORK: schemathesis keeps a `.schemathesis/` cache in its working directory.
(cd "$WORK" && "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "$DCR_ISSUER/openapi.json" \
  --url "$DCR_ISSUER" \
  --tls-verify "$WORK/certs/ca.pem" \
  --request-cert "$WORK/certs/client.pem" --request-cert-key "$WORK/certs/client.key" \
  --checks all --exclude-checks positive_data_acceptance \
  --phases examples,coverage,fuzzing \
  --max-examples "${OPENAPI_MAX_EXAMPLES:-50}" \
  --seed 7 \
  --workers 2 \
  --no-color \
  "$@") || status=$?
if [ $status -ne 0 ]; then
  log "server log (last 30 lines):"; tail -30 "$WORK/server.log"
fi
exit $status
