#!/usr/bin/env bash
# Rates and memory at scale (release build).
#   scripts/scale-bench.sh [registrations] [events] [count] [--postgres]
#   default: 1000000 registrations and 10000000 audit events in all (each registration's
#            creation event and the rest over the last year), seeded by `dcr-dev seed` (timed);
#            each benchmark run 10000 registrations at 32 connections.
# Then `dcr-dev bench` runs four times, alternating a fresh empty store and the seeded one, so
# that each pair is measured in the same few minutes: registrations, token requests, reads, the
# portal's list, a search, the last page and the audit log signed in, a walk of the whole audit
# chain, and the process's heap (RssAnon peak) through it all. It prints each rate on the
# seeded store as a ratio of the empty store's in the same pair. SQLite by default;
# --postgres on a throwaway cluster. Figures in docs/benchmarks.md ("At scale").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
REGS=${1:-1000000}
EVENTS=${2:-10000000}
COUNT=${3:-10000}
BACKEND=${4:-}

DEV=$(bench_dev_bin)

DIR=$(mktemp -d -t dcr-scale-bench-XXXXXX)
cleanup() {
  bench_store_stop "$DIR"
  rm -rf "$DIR"
}
trap cleanup EXIT
bench_store_start "$DIR" "$BACKEND"
FULL=$DCR_DATABASE_URL
log "seeding $REGS registrations and $EVENTS audit events"
start=$(date +%s.%N)
"$DEV" seed --count "$REGS" --events $(( EVENTS > REGS ? EVENTS - REGS : 0 )) 2>/dev/null
awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "seeded in %.0f s (the whole command)\n", e - s }'

empty_url() {
  if [ "$BACKEND" = "--postgres" ]; then
    local db="empty_$1"
    "${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}/createdb" -h 127.0.0.1 \
      -p "$(echo "$FULL" | sed -E 's|.*:([0-9]+)/.*|\1|')" -U postgres "$db"
    echo "${FULL%/*}/$db"
  else
    echo "sqlite://$DIR/empty_$1.db"
  fi
}
for round in 1 2; do
  for store in empty seeded; do
    url=$FULL
    [ "$store" = seeded ] || url=$(empty_url "$round")
    log "round $round: $store store"
    "$DEV" bench --count "$COUNT" --concurrency 32 --database-url "$url" 2>/dev/null | grep -v " WARN " | tee "$DIR/$store.$round"
  done
done

# Each rate on the seeded store over the empty store's of the same round.
for round in 1 2; do
  for phase in "POST /register" "POST /token" "GET /register/{id}"; do
    e=$(grep -F "  $phase " "$DIR/empty.$round" | awk '{ for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1) }')
    s=$(grep -F "  $phase " "$DIR/seeded.$round" | awk '{ for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1) }')
    awk -v r="$round" -v p="$phase" -v e="$e" -v s="$s" \
      'BEGIN { printf "round %s %-20s empty %6d/s  seeded %6d/s  ratio %.2f\n", r, p, e, s, s / e }'
  done
done
