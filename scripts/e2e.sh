#!/usr/bin/env bash
# Browser tests: builds the release server and WASM, starts the server on a fresh SQLite store
# with dev certificates and a seeded administrator, and runs Playwright in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_apt chromium
scripts/build-front.sh
log "building the release server"
cargo build --release -p server --bin dcr-server

(cd end2end && { [ -d node_modules/@playwright/test ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund; })

WORK=$(mktemp -d -t dcr-e2e-XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
BIN=$PWD/target/release/dcr-server
"$BIN" dev-certs "$WORK/certs" >/dev/null
export DCR_TLS_CERT=$WORK/certs/server.pem DCR_TLS_KEY=$WORK/certs/server.key DCR_CLIENT_CA=$WORK/certs/ca.pem
export DCR_DATABASE_URL=sqlite://$WORK/dcr.db
export DCR_LISTEN_ADDR=127.0.0.1:$(free_port) DCR_PORTAL_ADDR=127.0.0.1:$(free_port)
export DCR_PORTAL_SITE_ROOT=$PWD/target/site
export E2E_ADMIN_USER=e2e-admin
export E2E_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$E2E_ADMIN_PASSWORD" | "$BIN" admin add "$E2E_ADMIN_USER" >/dev/null
export E2E_API_URL=https://$DCR_LISTEN_ADDR
export E2E_WORK=$WORK
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
export BASE_URL=http://$DCR_PORTAL_ADDR
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$BASE_URL/login" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.1
done
log "running Playwright against $BASE_URL"
status=0
(cd end2end && npx playwright test "$@") || status=$?
if [ $status -ne 0 ]; then
  log "server log:"; tail -50 "$WORK/server.log"
fi
exit $status
