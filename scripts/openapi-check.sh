#!/usr/bin/env bash
# Live conformance check of the OpenAPI document: starts the release server on a fresh SQLite
# store with dev certificates, and runs schemathesis (from PyPI, in a venv under ~/.cache) against
# {issuer}/openapi.json with the dev client certificate. Checks: every schemathesis check, among
# them no 5xx (`not_a_server_error`), statuses, content types, headers and bodies as documented,
# 405 with `Allow` for undocumented methods, invalid input refused. Not `positive_data_acceptance`:
# a schema-valid body is still refused unless it carries valid signatures by registered keys,
# which a generator cannot make. Bounded (well under a minute).
# Arguments go to `schemathesis run` (e.g. `--max-examples 200`). DCR_BIN overrides the binary.
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

if [ -z "${DCR_BIN:-}" ]; then
  log "building the release server"
  cargo build --release -p server --bin dcr-server
  DCR_BIN=$PWD/target/release/dcr-server
fi

WORK=$(mktemp -d -t dcr-openapi-XXXXXX)
PID= SIM_PID=
cleanup() {
  for pid in $PID $SIM_PID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
"$DCR_BIN" dev-certs "$WORK/certs" >/dev/null

# The CDR Register simulator with one software product, whose recipient lives in $WORK/adr: it
# registers for real, so that the management operations are exercised with a valid token too.
PRODUCT=2f6c1a9e-8b3d-4e5f-a1c2-9d8e7f6a5b4c BRAND=7c9e6679-7425-40de-944b-e07fc1f90ae7
"$DCR_BIN" adr init "$WORK/adr" --certs "$WORK/certs" --product $PRODUCT --brand $BRAND >/dev/null
SIM_ADDR=127.0.0.1:$(free_port)
SIM_URL=https://localhost:${SIM_ADDR##*:}
"$DCR_BIN" register-sim --listen "$SIM_ADDR" --public-url "$SIM_URL" \
  --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" --data "$WORK/register-sim.json" \
  --demo-jwks "$WORK/adr/jwks.json" >"$WORK/register-sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 50); do
  "$DCR_BIN" register-sim list --url "$SIM_URL" --ca "$WORK/certs/ca.pem" >/dev/null 2>&1 && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/register-sim.log"; exit 1; }
  sleep 0.2
done

API_PORT=$(free_port)
export DCR_TLS_CERT=$WORK/certs/server.pem DCR_TLS_KEY=$WORK/certs/server.key DCR_CLIENT_CA=$WORK/certs/ca.pem
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

# A real registration and a token bound to the same client certificate schemathesis sends.
export DCR_ADR_DIR=$WORK/adr DCR_ADR_DATA_HOLDER=$DCR_ISSUER DCR_ADR_REGISTER=$SIM_URL
"$DCR_BIN" adr register >"$WORK/adr-register.json" 2>"$WORK/adr.log" || {
  cat "$WORK/adr.log"; tail -20 "$WORK/server.log"; exit 1; }
"$DCR_BIN" adr token >"$WORK/token.json" 2>>"$WORK/adr.log" || { cat "$WORK/adr.log"; exit 1; }
export DCR_CLIENT_ID DCR_ACCESS_TOKEN
DCR_CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$WORK/adr/state.json")
DCR_ACCESS_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/token.json")
cat >"$WORK/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${DCR_ACCESS_TOKEN}" }
[parameters]
"path.client_id" = "${DCR_CLIENT_ID}"
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
