#!/usr/bin/env bash
# Builds the portal's WASM bundle and styles into target/site, content-hashed.
#
# The wasm32 target comes from rustup when it can be had; otherwise from Debian's rustc-web with
# -Zbuild-std (see docs/toolchain.md). The script says which route it took. Idempotent: cargo and
# wasm-bindgen only redo what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SITE=target/site
PROFILE=${FRONT_PROFILE:-wasm-release}
export LEPTOS_OUTPUT_NAME=dcr-portal

ensure_wasm_bindgen

# DCR_WASM_ROUTE=debian forces the fallback (to test it); the default tries rustup first.
if [ "${DCR_WASM_ROUTE:-auto}" != debian ] && ensure_rustup_wasm_target; then
  log "wasm32 toolchain: rustup (wasm32-unknown-unknown target)"
  cargo build -p frontend --lib --target wasm32-unknown-unknown --profile "$PROFILE" --target-dir target/front
  WASM=target/front/wasm32-unknown-unknown/$PROFILE/frontend.wasm
else
  log "wasm32 toolchain: Debian rustc-web with -Zbuild-std (the rustup target is not available here)"
  # Leptos 0.8 needs rustc >= 1.88; bookworm's own rustc-web is 1.85, bookworm-security has 1.96.
  if ! /usr/bin/rustc --version 2>/dev/null | awk '{split($2,v,"."); exit !(v[1]>1 || v[2]>=88)}' \
     || ! dpkg -s rust-web-src lld-19 >/dev/null 2>&1; then
    ensure_apt_latest rustc-web cargo-web rust-web-src lld-19
  fi
  log "Debian toolchain: $(/usr/bin/rustc --version)"
  # RUSTC_BOOTSTRAP only here, in its own target dir, so the server build is not invalidated.
  env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc /usr/bin/cargo build -p frontend --lib \
    --target wasm32-unknown-unknown --profile "$PROFILE" --target-dir target/front-debian \
    -Zbuild-std=std,panic_abort --config 'target.wasm32-unknown-unknown.linker="wasm-ld-19"'
  WASM=target/front-debian/wasm32-unknown-unknown/$PROFILE/frontend.wasm
fi

TMP=target/front-bindgen
rm -rf "$TMP" && mkdir -p "$TMP"
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$TMP" --out-name dcr-portal "$WASM"
mv "$TMP/dcr-portal_bg.wasm" "$TMP/dcr-portal.wasm"
cp style/main.css "$TMP/dcr-portal.css"

ID=$(cat "$TMP/dcr-portal.js" "$TMP/dcr-portal.wasm" "$TMP/dcr-portal.css" | sha256sum | cut -c1-16)
# Compressed copies, made once here and sent as they are to browsers that take them (the WASM:
# about a quarter of its size in brotli).
ensure_apt brotli
for f in "$TMP"/dcr-portal.js "$TMP"/dcr-portal.wasm "$TMP"/dcr-portal.css; do
  gzip -9 -n -k -f "$f"
  brotli -q 11 -k -f "$f"
done
mkdir -p "$SITE/pkg"
find "$SITE/pkg" -mindepth 1 -maxdepth 1 -type d ! -name "$ID" -exec rm -rf {} +
rm -rf "$SITE/pkg/$ID" && mv "$TMP" "$SITE/pkg/$ID"
echo "$ID" > "$SITE/pkg/BUILD_ID"
cp -r public/. "$SITE/"
log "front end built: $SITE/pkg/$ID ($(du -h "$SITE/pkg/$ID/dcr-portal.wasm" | cut -f1) wasm)"
