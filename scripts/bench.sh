#!/usr/bin/env bash
# Load benchmark of the DCR API on SQLite and on a throwaway PostgreSQL cluster.
#   scripts/bench.sh [count] [concurrency]
# See docs/benchmarks.md for what it measures and today's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
COUNT=${1:-10000}
CONC=${2:-32}

# DCR_DEV_BIN runs a dcr-dev built elsewhere (to compare two builds in the same hour).
BIN=$(bench_dev_bin)

log "SQLite"
"$BIN" bench --count "$COUNT" --concurrency "$CONC" 2>/dev/null

log "PostgreSQL (throwaway cluster)"
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DIR=$(mktemp -d -t dcr-bench-pg-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUN=()
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR"; RUN=(runuser -u postgres --); fi
cleanup() { (cd /tmp && "${RUN[@]}" "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1) || true; rm -rf "$DIR"; }
trap cleanup EXIT
(cd /tmp && "${RUN[@]}" "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null)
(cd /tmp && "${RUN[@]}" "$PG_BIN/pg_ctl" -D "$DIR/data" -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200" -l "$DIR/log" -w start >/dev/null)
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres bench
"$BIN" bench --count "$COUNT" --concurrency "$CONC" --database-url "postgres://postgres@127.0.0.1:$PORT/bench" 2>/dev/null
