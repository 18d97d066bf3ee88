#!/usr/bin/env bash
# Peak memory of `dcr-server export` as the number of rows grows (release build, SQLite).
#   scripts/export-memory.sh [rows ...]        default: 100000 1000000
# For each count: a fresh SQLite store seeded by `dcr-dev seed` (one creation audit event per
# registration), then `export registrations` and `export audit` (CSV) to a pipe that counts the
# bytes, with the process's peak resident set (VmHWM) and peak anonymous memory (RssAnon) read
# from /proc every 20 ms. RSS includes the database file's pages that SQLite maps (mmap_size,
# 256 MiB per connection), which grow with the file up to that cap; RssAnon is what the export
# allocates. Figures in docs/benchmarks.md ("Exports").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(100000 1000000)

# DCR_SERVER_BIN and DCR_DEV_BIN run binaries built elsewhere.
if [ -n "${DCR_SERVER_BIN:-}" ] && [ -n "${DCR_DEV_BIN:-}" ]; then
  SERVER=$DCR_SERVER_BIN
  DEV=$DCR_DEV_BIN
else
  TARGET=${CARGO_TARGET_DIR:-$PWD/target}
  cargo build --release -q -p server --bin dcr-server -p dcr-devtools --bin dcr-dev
  SERVER=$TARGET/release/dcr-server
  DEV=$TARGET/release/dcr-dev
fi

DIR=$(mktemp -d -t dcr-export-memory-XXXXXX)
trap 'rm -rf "$DIR"' EXIT

# Runs an export with its output counted; prints "peak RSS, peak anonymous, bytes, seconds".
measure() {
  local start end pid hwm=0 anon=0 v
  start=$(date +%s.%N)
  "$SERVER" export "$@" --format csv | wc -c > "$DIR/bytes" &
  sleep 0.05
  pid=$(pgrep -n -f "^$SERVER export $1" || true)
  while [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
    v=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && [ "$v" -gt "$anon" ] && anon=$v
    sleep 0.02
  done
  wait
  end=$(date +%s.%N)
  printf '%s\t%s MiB\t%s MiB\t%s bytes\t%s s\n' "$1" "$((hwm / 1024))" "$((anon / 1024))" \
    "$(cat "$DIR/bytes")" "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')"
}

printf 'rows\texport\tpeak RSS\tpeak anonymous\toutput\ttime\n'
for n in "${COUNTS[@]}"; do
  rm -f "$DIR"/dcr.db*
  export DCR_DATABASE_URL="sqlite://$DIR/dcr.db"
  "$DEV" seed --count "$n" >/dev/null 2>&1
  for what in registrations audit; do
    printf '%s\t' "$n"
    measure "$what"
  done
done
