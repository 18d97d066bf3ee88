#!/usr/bin/env bash
# Scale-out on PostgreSQL (release build): two server instances on one throwaway cluster.
#   scripts/scaleout-bench.sh [count] [concurrency] [rounds]
#   default: 10000 registrations per phase at 32 connections, 2 rounds.
# Each round is one `dcr-dev bench --instances 2` run: registrations, token requests and reads
# on the first instance alone, then the same on both instances with the connections split
# between them (a token issued by one instance is read back at either), in the same run. It
# prints the combined rates as a multiple of one instance's, the machine's CPU use in each
# phase, checks every client id is new, and walks the whole audit chain afterwards.
# Figures in docs/benchmarks.md ("Scale-out").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
COUNT=${1:-10000}
CONC=${2:-32}
ROUNDS=${3:-2}

DEV=$(bench_dev_bin)

DIR=$(mktemp -d -t dcr-scaleout-bench-XXXXXX)
cleanup() {
  bench_store_stop "$DIR"
  rm -rf "$DIR"
}
trap cleanup EXIT
bench_store_start "$DIR" --postgres
for round in $(seq 1 "$ROUNDS"); do
  log "round $round: one instance, then two, on one PostgreSQL"
  "$DEV" bench --count "$COUNT" --concurrency "$CONC" --instances 2 \
    --database-url "$DCR_DATABASE_URL" 2>/dev/null | grep -v " WARN "
done
