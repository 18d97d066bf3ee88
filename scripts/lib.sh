# Shared helpers for the project's scripts (sourced, not run).

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages that are missing (quietly, once).
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  }
}

# Installs what the downstream authorization server needs (node-oidc-provider in
# tests/downstream-as): Node.js, npm when Node came without it, and the package's node_modules
# from its lockfile.
ensure_downstream_as() {
  ensure_apt nodejs
  command -v npm >/dev/null 2>&1 || ensure_apt npm
  (cd tests/downstream-as && { [ -d node_modules/oidc-provider ] || npm ci --no-audit --no-fund; })
}

# The wasm-bindgen version pinned in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock
}

# Installs wasm-bindgen-cli at exactly the version in Cargo.lock (without --locked: its own
# lockfile wants crates the registry mirror may lack).
ensure_wasm_bindgen() {
  local want have
  want=$(wasm_bindgen_version)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (a few minutes, once)"
    cargo install -q wasm-bindgen-cli --version "$want" --force
  fi
}

# True when rustup's wasm32 target is (or can be made) available.
ensure_rustup_wasm_target() {
  command -v rustup >/dev/null 2>&1 || return 1
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown && return 0
  timeout 180 rustup target add wasm32-unknown-unknown >/dev/null 2>&1
}

# Installs or upgrades Debian packages from freshly updated package lists (for packages whose
# useful version only comes from bookworm-security, such as rustc-web 1.96).
ensure_apt_latest() {
  log "installing the latest Debian packages: $*"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# The dcr-dev a benchmark runs: $DCR_DEV_BIN when given (a build from elsewhere, to compare two
# builds in the same hour), else a release build of this tree.
bench_dev_bin() {
  if [ -n "${DCR_DEV_BIN:-}" ]; then
    echo "$DCR_DEV_BIN"
  else
    cargo build --release -q -p dcr-devtools --bin dcr-dev >&2
    echo "${CARGO_TARGET_DIR:-$PWD/target}/release/dcr-dev"
  fi
}

# The store of a benchmark in the directory $1: a SQLite file there, or with --postgres as $2 a
# throwaway PostgreSQL cluster there (on a free port, as the postgres user when run as root).
# Exports DCR_DATABASE_URL; bench_store_stop $1 stops the cluster (call it from the EXIT trap).
BENCH_PG_RUN=()
bench_store_start() {
  local dir=$1 backend=${2:-}
  if [ "$backend" = "--postgres" ]; then
    local pg_bin port
    pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; BENCH_PG_RUN=(runuser -u postgres --); fi
    (cd /tmp && "${BENCH_PG_RUN[@]}" "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null)
    (cd /tmp && "${BENCH_PG_RUN[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null)
    "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres bench
    export DCR_DATABASE_URL="postgres://postgres@127.0.0.1:$port/bench"
  else
    export DCR_DATABASE_URL="sqlite://$dir/dcr.db"
  fi
}
bench_store_stop() {
  local dir=$1 pg_bin
  if [ -d "$dir/data" ]; then
    pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
    (cd /tmp && "${BENCH_PG_RUN[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1) || true
  fi
}
