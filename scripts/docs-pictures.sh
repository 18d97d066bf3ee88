#!/usr/bin/env bash
# Copies the pictures used in docs/ from the browser tests' screenshots: run scripts/e2e.sh
# first (it saves them in end2end/test-results/screenshots/), then this, and commit docs/images.
set -euo pipefail
cd "$(dirname "$0")/.."
SHOTS=end2end/test-results/screenshots
mkdir -p docs/images
# picture in docs/images  <-  screenshot taken by (end2end/tests/...)
while read -r picture shot; do
  [ -f "$SHOTS/$shot.png" ] || { echo "missing $SHOTS/$shot.png: run scripts/e2e.sh first" >&2; exit 1; }
  cp "$SHOTS/$shot.png" "docs/images/$picture.png"
  echo "docs/images/$picture.png"
done <<'LIST'
overview overview
registration inspect
LIST
