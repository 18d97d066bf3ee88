#!/usr/bin/env bash
# Browser tests: builds the release server and WASM, starts on a fresh SQLite store (with dev
# certificates, seeded administrators and 120 synthetic registrations) a CDR Register simulator,
# the server, and a second server on the same store with 5-second session timeouts, registers a
# real software product with the recipient tool, and runs Playwright in Debian's Chromium.
# Arguments go to Playwright (e.g. `scripts/e2e.sh tests/revoke.spec.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_apt chromium libssl-dev pkg-config # OpenSSL: webauthn-rs (passkeys)
# The single sign-on tests run node-oidc-provider as the identity provider.
ensure_downstream_as
scripts/build-front.sh
log "building the release server"
cargo build --release -p server --bin dcr-server -p dcr-devtools --bin dcr-dev

(cd end2end && { [ -d node_modules/@playwright/test ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund; })

WORK=$(mktemp -d -t dcr-e2e-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_for() { # url pid log
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3"; exit 1; }
    sleep 0.1
  done
  echo "timed out waiting for $1"; cat "$3"; exit 1
}
BIN=$PWD/target/release/dcr-server DEV=$PWD/target/release/dcr-dev
"$DEV" certs "$WORK/certs" >/dev/null

# The CDR Register simulator with one software product, whose recipient lives in $WORK/adr.
PRODUCT=2f6c1a9e-8b3d-4e5f-a1c2-9d8e7f6a5b4c BRAND=7c9e6679-7425-40de-944b-e07fc1f90ae7
"$DEV" adr init "$WORK/adr" --certs "$WORK/certs" --product $PRODUCT --brand $BRAND >/dev/null
SIM_ADDR=127.0.0.1:$(free_port)
SIM_URL=https://localhost:${SIM_ADDR##*:}
"$DEV" register-sim --listen "$SIM_ADDR" --public-url "$SIM_URL" \
  --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" --data "$WORK/register-sim.json" \
  --demo-jwks "$WORK/adr/jwks.json" >"$WORK/register-sim.log" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do
  "$DEV" register-sim list --url "$SIM_URL" --ca "$WORK/certs/ca.pem" >/dev/null 2>&1 && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$WORK/register-sim.log"; exit 1; }
  if [ "$i" -eq 50 ]; then echo "timed out waiting for the Register simulator"; cat "$WORK/register-sim.log"; exit 1; fi
  sleep 0.2
done

export DCR_TLS_CERT=$WORK/certs/server.pem DCR_TLS_KEY=$WORK/certs/server.key DCR_CLIENT_CA=$WORK/certs/ca.pem
# Recipients (the simulator serves their JWKS) run on loopback here.
export DCR_OUTBOUND_ALLOWED_ADDRESSES=127.0.0.1,::1
# the portal is plain HTTP on loopback here: cookies cannot be Secure
export DCR_COOKIE_SECURE=false
export DCR_OUTBOUND_CA=$WORK/certs/ca.pem
export DCR_REGISTER_JWKS_URI=$SIM_URL/cdr-register/v1/jwks DCR_REGISTER_BASE_URI=$SIM_URL
export DCR_DATABASE_URL=sqlite://$WORK/dcr.db
export DCR_PORTAL_SITE_ROOT=$PWD/target/site
# Command output is assigned first and exported after: `export X=$(cmd)` has the status of
# `export`, which would hide a failing cmd from `set -e`.
API_PORT=$(free_port)
PORTAL_PORT=$(free_port)
export DCR_LISTEN_ADDR=127.0.0.1:$API_PORT DCR_PORTAL_ADDR=127.0.0.1:$PORTAL_PORT
export DCR_ISSUER=https://localhost:$API_PORT

# Administrators: the main one, one the throttling test locks out, one whose password changes.
export E2E_ADMIN_USER=e2e-admin E2E_LOCK_USER=e2e-locked E2E_PASSWORD_USER=e2e-password
E2E_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export E2E_ADMIN_PASSWORD
for user in "$E2E_ADMIN_USER" "$E2E_LOCK_USER" "$E2E_PASSWORD_USER"; do
  echo "$E2E_ADMIN_PASSWORD" | "$BIN" admin add "$user" >/dev/null
done
"$DEV" seed --count 120 >/dev/null

"$BIN" serve >"$WORK/server.log" 2>&1 &
PIDS+=($!)
export BASE_URL=http://$DCR_PORTAL_ADDR
wait_for "$BASE_URL/login" "${PIDS[-1]}" "$WORK/server.log"

# A second instance on the same store whose sessions time out after 5 s idle, 12 s in all.
export E2E_IDLE_SECS=5 E2E_ABSOLUTE_SECS=12
SHORT_PORTAL=127.0.0.1:$(free_port)
SHORT_API=127.0.0.1:$(free_port)
DCR_LISTEN_ADDR=$SHORT_API DCR_PORTAL_ADDR=$SHORT_PORTAL \
  DCR_SESSION_IDLE_SECS=$E2E_IDLE_SECS DCR_SESSION_ABSOLUTE_SECS=$E2E_ABSOLUTE_SECS \
  "$BIN" serve >"$WORK/server-short.log" 2>&1 &
PIDS+=($!)
export E2E_SHORT_SESSION_URL=http://$SHORT_PORTAL
wait_for "$E2E_SHORT_SESSION_URL/login" "${PIDS[-1]}" "$WORK/server-short.log"

# A third instance on the same store that signs people in through an OpenID Connect provider
# (node-oidc-provider, tests/downstream-as/identity-provider.mjs) whose people are below.
IDP_PORT=$(free_port)
SSO_PORTAL=127.0.0.1:$(free_port)
export E2E_SSO_URL=http://$SSO_PORTAL E2E_SSO_ADMIN=sso-ada E2E_SSO_NOBODY=sso-nobody
echo '{"sso-ada": {"groups": ["dcr-administrators"]}, "sso-nobody": {"groups": ["staff"]}}' >"$WORK/idp-people.json"
SSO_SECRET=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s' "$SSO_SECRET" >"$WORK/sso-secret"
(cd tests/downstream-as && OP_PORT=$IDP_PORT OP_TLS_CERT=$WORK/certs/server.pem OP_TLS_KEY=$WORK/certs/server.key \
  OP_CLIENT_ID=dcr-portal OP_CLIENT_SECRET=$SSO_SECRET OP_REDIRECT_URI=$E2E_SSO_URL/auth/sso/callback \
  OP_ACCOUNTS_FILE=$WORK/idp-people.json exec node identity-provider.mjs) >"$WORK/idp.out" 2>"$WORK/idp.log" &
PIDS+=($!)
for i in $(seq 100); do
  grep -q ready "$WORK/idp.out" 2>/dev/null && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/idp.log"; exit 1; }
  if [ "$i" -eq 100 ]; then echo "timed out waiting for the identity provider"; cat "$WORK/idp.log"; exit 1; fi
  sleep 0.1
done
DCR_LISTEN_ADDR=127.0.0.1:$(free_port) DCR_PORTAL_ADDR=$SSO_PORTAL DCR_PORTAL_PUBLIC_ORIGIN=$E2E_SSO_URL \
  DCR_SSO_ISSUER=https://127.0.0.1:$IDP_PORT DCR_SSO_CLIENT_ID=dcr-portal \
  DCR_SSO_CLIENT_SECRET_FILE=$WORK/sso-secret DCR_SSO_CA=$WORK/certs/ca.pem \
  DCR_SSO_LABEL="Sign in with Bank SSO" DCR_SSO_SCOPES=profile,email,groups DCR_SSO_ROLE_CLAIM=groups \
  DCR_SSO_ADMINISTRATORS=dcr-administrators \
  "$BIN" serve >"$WORK/server-sso.log" 2>&1 &
PIDS+=($!)
wait_for "$E2E_SSO_URL/login" "${PIDS[-1]}" "$WORK/server-sso.log"

# A real registration by the recipient tool, for the revoke test's token checks.
export DCR_ADR_DIR=$WORK/adr DCR_ADR_DATA_HOLDER=$DCR_ISSUER DCR_ADR_REGISTER=$SIM_URL
"$DEV" adr register >"$WORK/adr-register.json" 2>"$WORK/adr-register.log" || {
  cat "$WORK/adr-register.log" "$WORK/adr-register.json"; tail -20 "$WORK/server.log"; exit 1; }
export E2E_DEV_BIN=$DEV
E2E_ADR_CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$WORK/adr/state.json")
export E2E_ADR_CLIENT_ID
export E2E_API_URL=https://$DCR_LISTEN_ADDR
export E2E_WORK=$WORK

log "running Playwright against $BASE_URL"
status=0
(cd end2end && npx playwright test "$@") || status=$?
if [ $status -ne 0 ]; then
  log "server log:"; tail -50 "$WORK/server.log"
fi
exit $status
