#!/usr/bin/env bash
# Abuse and soak tests of a running server (docs/security.md, "Abuse and soak tests"). Starts on a
# fresh SQLite store (or a throwaway PostgreSQL cluster), with dev certificates and a CDR Register
# simulator, the Data Holder with a metrics listener, then runs `dcr-dev abuse` (10,000 hostile
# requests against both listeners; fails on any 5xx, on the server exiting, or on it no longer
# answering a normal request) and `dcr-dev soak` (keep-alive connections of mixed traffic; fails
# when the server's anonymous resident memory grows 10 % or more after the warm-up, 20 % in the
# quick run, when it keeps descriptors open after the clients have gone, or on any 5xx). Stops
# everything, prints a summary, and exits nonzero on failure, also when the server log shows a panic
# (a panic in a request's task drops only that request, so the tools alone would not see it).
#
#   scripts/abuse.sh                  release build; the soak holds 1,000 connections for 30 minutes
#   scripts/abuse.sh --quick          the debug binaries `cargo test` builds (built if missing);
#                                     200 connections for 2 minutes (the CI variant, under 4 minutes)
#   --minutes N, --connections N      the soak's length and width
#   --postgres                        the store on a throwaway PostgreSQL cluster (initdb, pg_ctl)
#   DCR_BIN, DCR_DEV_BIN              binaries built elsewhere
#
# The soak's connections all come from 127.0.0.1 with one client certificate, which the default
# caps would refuse (256 connections per address and listener, 600 requests a minute per
# certificate): this server runs with DCR_MAX_CONNECTIONS_PER_ADDRESS above the soak's width and
# the rate limits raised out of reach (still on). The abuse client sends from 127.0.0.2, so that
# the sign-in lockout it provokes for its address does not lock the soak's sign-in out.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
START=$(date +%s)

QUICK=0 MINUTES= CONNECTIONS= BACKEND=sqlite
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --minutes) MINUTES=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --postgres) BACKEND=postgres ;;
    *) echo "usage: scripts/abuse.sh [--quick] [--minutes N] [--connections N] [--postgres]" >&2; exit 2 ;;
  esac
  shift
done
if [ $QUICK = 1 ]; then
  SOAK_SECS=$(python3 -c "print(round(60 * ${MINUTES:-2}))") CONNECTIONS=${CONNECTIONS:-200}
  # Two minutes in, the server's caches are still filling: a few megabytes on a heap of about
  # 50 MB. The full run holds the 10 % line.
  RSS_LIMIT=20
else
  SOAK_SECS=$(python3 -c "print(round(60 * ${MINUTES:-30}))") CONNECTIONS=${CONNECTIONS:-1000}
  RSS_LIMIT=10
fi
# A third of the soak warms up: in a full run that covers the access tokens' 5-minute lifetime,
# after which the server holds a steady number of them.
WARMUP=$(( SOAK_SECS / 3 ))

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${DCR_BIN:-}" ] || [ -z "${DCR_DEV_BIN:-}" ]; then
  if [ $QUICK = 1 ]; then
    DCR_BIN=$TARGET/debug/dcr-server DCR_DEV_BIN=$TARGET/debug/dcr-dev
    # Always through cargo (quick when nothing changed): a binary left from an older build
    # would test old code.
    log "building the debug server and dev tools"
    cargo build -p server --bin dcr-server -p dcr-devtools --bin dcr-dev
  else
    log "building the release server and dev tools"
    cargo build --release -p server --bin dcr-server -p dcr-devtools --bin dcr-dev
    DCR_BIN=$TARGET/release/dcr-server DCR_DEV_BIN=$TARGET/release/dcr-dev
  fi
fi

# A thousand connections need more descriptors than the usual soft limit, on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d -t dcr-abuse-XXXXXX)
PID= SIM_PID= PG_DIR= PG_RUN=()
cleanup() {
  for pid in $PID $SIM_PID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DIR" ]; then
    (cd /tmp && "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1) || true
    rm -rf "$PG_DIR"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
"$DCR_DEV_BIN" certs "$WORK/certs" >/dev/null

SIM_ADDR=127.0.0.1:$(free_port)
SIM_URL=https://localhost:${SIM_ADDR##*:}
"$DCR_DEV_BIN" register-sim --listen "$SIM_ADDR" --public-url "$SIM_URL" \
  --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" >"$WORK/register-sim.log" 2>&1 &
SIM_PID=$!
for i in $(seq 50); do
  "$DCR_DEV_BIN" register-sim list --url "$SIM_URL" --ca "$WORK/certs/ca.pem" >/dev/null 2>&1 && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/register-sim.log"; exit 1; }
  if [ "$i" -eq 50 ]; then echo "timed out waiting for the Register simulator"; exit 1; fi
  sleep 0.2
done

API_PORT=$(free_port)
export DCR_TLS_CERT=$WORK/certs/server.pem DCR_TLS_KEY=$WORK/certs/server.key DCR_CLIENT_CA=$WORK/certs/ca.pem
# Recipients (the simulator serves their JWKS) run on loopback here.
export DCR_OUTBOUND_ALLOWED_ADDRESSES=127.0.0.1,::1
# the portal is plain HTTP on loopback here: cookies cannot be Secure
export DCR_COOKIE_SECURE=false
export DCR_OUTBOUND_CA=$WORK/certs/ca.pem
export DCR_REGISTER_JWKS_URI=$SIM_URL/cdr-register/v1/jwks DCR_REGISTER_BASE_URI=$SIM_URL
if [ $BACKEND = postgres ]; then
  # PostgreSQL refuses to run as root: as root the cluster runs as the postgres user, in a
  # directory of its own (the work directory holds keys and passwords).
  PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
  PG_PORT=$(free_port)
  PG_DIR=$(mktemp -d -t dcr-abuse-pg-XXXXXX)
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_DIR"; PG_RUN=(runuser -u postgres --); fi
  (cd /tmp && "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null)
  (cd /tmp && "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w start \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null)
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres dcr
  export DCR_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/dcr
  # The store's pool opens up to 32 connections as load needs them and keeps them: sockets
  # still open after the soak that are not a leak.
  DATABASE_ARGS=(--fd-margin 48)
else
  export DCR_DATABASE_URL=sqlite://$WORK/dcr.db
  DATABASE_ARGS=(--database "$WORK/dcr.db")
fi
export DCR_LISTEN_ADDR=127.0.0.1:$API_PORT DCR_PORTAL_ADDR=127.0.0.1:$(free_port)
export DCR_METRICS_ADDR=127.0.0.1:$(free_port)
export DCR_ISSUER=https://localhost:$API_PORT
export DCR_PORTAL_SITE_ROOT=$WORK/site
export DCR_LOG_FORMAT=json RUST_LOG=${RUST_LOG:-warn}
# A backtrace would be symbolised from the binary's debug information, tens of megabytes the
# process then keeps, which the soak would count as growth; the panic's message is kept.
export RUST_BACKTRACE=0
# One loopback address and one certificate stand for every client of the soak (see above).
export DCR_MAX_CONNECTIONS_PER_ADDRESS=$(( CONNECTIONS + 256 ))
export DCR_RATE_LIMIT_PER_MINUTE=600000 DCR_RATE_LIMIT_BURST=10000
mkdir -p "$WORK/site"

new_password() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
export DCR_ABUSE_ADMIN_USER=abuse-admin DCR_SOAK_ADMIN_USER=soak-admin
DCR_ABUSE_ADMIN_PASSWORD=$(new_password)
DCR_SOAK_ADMIN_PASSWORD=$(new_password)
export DCR_ABUSE_ADMIN_PASSWORD DCR_SOAK_ADMIN_PASSWORD
echo "$DCR_ABUSE_ADMIN_PASSWORD" | "$DCR_BIN" admin add "$DCR_ABUSE_ADMIN_USER" >/dev/null
echo "$DCR_SOAK_ADMIN_PASSWORD" | "$DCR_BIN" admin add "$DCR_SOAK_ADMIN_USER" >/dev/null

"$DCR_BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
CURL_TLS=(--cacert "$WORK/certs/ca.pem" --cert "$WORK/certs/client.pem" --key "$WORK/certs/client.key")
for i in $(seq 1 300); do
  curl -sf -o /dev/null "${CURL_TLS[@]}" "$DCR_ISSUER/healthz" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  if [ "$i" -eq 300 ]; then echo "timed out waiting for the server"; tail -20 "$WORK/server.log"; exit 1; fi
  sleep 0.1
done
log "server $PID on $DCR_LISTEN_ADDR (API), $DCR_PORTAL_ADDR (portal), $DCR_METRICS_ADDR (metrics)"

status=0
log "abuse: 10,000 hostile requests"
ABUSE_START=$(date +%s)
"$DCR_DEV_BIN" abuse --api "$DCR_LISTEN_ADDR" --portal "$DCR_PORTAL_ADDR" --certs "$WORK/certs" \
  --issuer "$DCR_ISSUER" --source 127.0.0.2 --pid "$PID" | tee "$WORK/abuse.txt" || status=1
ABUSE_SECS=$(( $(date +%s) - ABUSE_START ))

SOAK_SECS_RAN=0
if kill -0 "$PID" 2>/dev/null; then
  log "soak: $CONNECTIONS connections for $SOAK_SECS s"
  SOAK_START=$(date +%s)
  "$DCR_DEV_BIN" soak --api "$DCR_LISTEN_ADDR" --portal "$DCR_PORTAL_ADDR" --metrics "$DCR_METRICS_ADDR" \
    --certs "$WORK/certs" --issuer "$DCR_ISSUER" --register "$SIM_URL" --pid "$PID" \
    --connections "$CONNECTIONS" --seconds "$SOAK_SECS" --warmup-secs "$WARMUP" "${DATABASE_ARGS[@]}" \
    --rss-limit-pct "$RSS_LIMIT" \
    | tee "$WORK/soak.txt" || status=1
  SOAK_SECS_RAN=$(( $(date +%s) - SOAK_START ))
else
  status=1
fi

server_state=running
if kill -0 "$PID" 2>/dev/null; then
  kill "$PID"
  wait "$PID" 2>/dev/null || { server_state="exited $? on SIGTERM"; status=1; }
else
  wait "$PID" 2>/dev/null && server_state="exited" || server_state="exited with status $?"
  status=1
fi
PID=
panics=$(grep -c 'panicked at' "$WORK/server.log" || true)
[ "$panics" = 0 ] || status=1

log "summary"
case $DCR_BIN in */release/*) BUILD=release ;; */debug/*) BUILD=debug ;; *) BUILD=$DCR_BIN ;; esac
echo "  date:     $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $BUILD build, $BACKEND"
echo "  abuse:    $(grep -E '^abuse: PASS' "$WORK/abuse.txt" >/dev/null && echo PASS || echo FAIL) in $ABUSE_SECS s ($(grep -E '^  total' "$WORK/abuse.txt" | tr -s ' ' | cut -c2- || true))"
if [ -f "$WORK/soak.txt" ]; then
  echo "  soak:     $(grep -E '^soak: PASS' "$WORK/soak.txt" >/dev/null && echo PASS || echo FAIL) in $SOAK_SECS_RAN s"
  grep -E '^  (requests served|resident memory|open descriptors|errors)|^    (VmRSS|anonymous|mapped)' \
    "$WORK/soak.txt" | sed 's/^  /            /' || true
else
  echo "  soak:     not run"
fi
echo "  server:   $server_state until stopped; panics in its log: $panics"
if [ "$panics" != 0 ]; then
  log "panics in the server log (message and first frames):"
  grep -A 1 'panicked at' "$WORK/server.log" | grep -v '^note:' | cut -c1-300 || true
fi
if [ $status -ne 0 ]; then
  log "server log (last 30 lines):"; tail -30 "$WORK/server.log"
  KEPT=$(mktemp -t dcr-abuse-server-XXXXXX.log)
  cp "$WORK/server.log" "$KEPT"
  log "FAILED after $(( $(date +%s) - START )) s; the whole server log: $KEPT"
else
  log "passed in $(( $(date +%s) - START )) s"
fi
exit $status
