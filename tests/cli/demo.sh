#!/usr/bin/env bash
# `jitgate demo` starts and its scripted walkthrough works as printed: the printed curl command
# gets a token from the development authorization server, the MCP server accepts it for the
# signed-in tier, answers 403 insufficient_scope naming notes:write for add_note, and 401 with the
# resource metadata for a caller without a token; the Inspector steps name the MCP URL and CORS
# answers the Inspector's origin only; the README's curl walkthrough works as written.
set -euo pipefail
jitgate="$1"
out="$(mktemp -d)"
"$jitgate" demo --port 0 --auth-port 0 >"$out/stdout" 2>"$out/stderr" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 100); do grep -q "Ctrl-C" "$out/stdout" 2>/dev/null && break; sleep 0.05; done
mcp="$(sed -n 's/^  MCP server *\(http[^ ]*\).*/\1/p' "$out/stdout")"
issuer="$(sed -n 's/^  Authorization *\(http[^ ]*\).*/\1/p' "$out/stdout")"
[ -n "$mcp" ] && [ -n "$issuer" ] || { cat "$out/stdout" "$out/stderr"; exit 1; }
grep -q "DEVELOPMENT" "$out/stderr"

# The printed scripted command, run as printed (the two lines joined).
cmd="$(sed -n '/^  curl -s .*\/token/{N;s/\\\n *//;s/^ *//;p}' "$out/stdout")"
token="$(eval "$cmd" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
[ -n "$token" ] || { echo "no token from: $cmd"; exit 1; }

h=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"demo-test","version":"1"}}}'
call() {  # call TOKEN TOOL ARGS -> status line, WWW-Authenticate and body
  local auth=()
  [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
  local sid
  sid="$(curl -s -D - -o /dev/null "$mcp" "${h[@]}" "${auth[@]}" -d "$init" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^\r]*\).*/\1/p')"
  curl -s "$mcp" "${h[@]}" "${auth[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
  curl -s -i "$mcp" "${h[@]}" "${auth[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"'"$2"'","arguments":'"$3"'}}'
}
r="$(call "" search_docs '{"query":"tiers"}')"; echo "$r" | grep -q "HTTP/1.1 200" || { echo "search_docs: $r"; exit 1; }
r="$(call "" list_my_notes '{}')"; echo "$r" | grep -q "HTTP/1.1 401" || { echo "anonymous list_my_notes: $r"; exit 1; }
echo "$r" | grep -qi "www-authenticate: Bearer.*resource_metadata=" || { echo "no challenge: $r"; exit 1; }
r="$(call "$token" list_my_notes '{}')"; echo "$r" | grep -q "Notes of demo-robot" || { echo "list_my_notes: $r"; exit 1; }
r="$(call "$token" add_note '{"text":"hi"}')"; echo "$r" | grep -q "HTTP/1.1 403" || { echo "add_note: $r"; exit 1; }
echo "$r" | grep -qi 'insufficient_scope.*scope="notes:write"' || { echo "no step-up hint: $r"; exit 1; }
# The Inspector steps name the printed MCP URL, and the demo answers CORS for the Inspector's
# origin (preflight, the session id and the challenge readable from a page), for no other origin.
grep -q "^  URL $mcp, Add;" "$out/stdout" || { echo "the Inspector steps do not name $mcp"; exit 1; }
pre="$(curl -s -i -X OPTIONS "$mcp" -H 'Origin: http://localhost:6274' -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: authorization, content-type, mcp-session-id, mcp-protocol-version')"
echo "$pre" | grep -q "HTTP/1.1 204" || { echo "preflight: $pre"; exit 1; }
echo "$pre" | grep -qi "^access-control-allow-origin: http://localhost:6274" || { echo "preflight origin: $pre"; exit 1; }
echo "$pre" | grep -qi "^access-control-allow-headers:.*Authorization.*Mcp-Session-Id.*MCP-Protocol-Version" || { echo "preflight headers: $pre"; exit 1; }
r="$(curl -s -i "$mcp" "${h[@]}" -H 'Origin: http://127.0.0.1:6274' -d "$init")"
echo "$r" | grep -qi "^access-control-expose-headers: Mcp-Session-Id, WWW-Authenticate" || { echo "no exposed headers: $r"; exit 1; }
r="$(curl -s -i -X OPTIONS "$mcp" -H 'Origin: http://localhost:5173' -H 'Access-Control-Request-Method: POST')"
echo "$r" | grep -qi "^access-control-allow-origin" && { echo "CORS for another origin: $r"; exit 1; }
# The README's curl walkthrough, run as written with the demo's ports in place of the defaults.
readme="$(dirname "$0")/../../README.md"
awk '/<!-- demo-walkthrough/{f=1;next} f&&/^```sh/{g=1;next} g&&/^```/{exit} g' "$readme" >"$out/walk.sh"
[ "$(wc -l <"$out/walk.sh")" -gt 10 ] || { echo "no demo walkthrough block in README.md"; exit 1; }
mcp_port="${mcp#http://127.0.0.1:}"; mcp_port="${mcp_port%%/*}"; auth_port="${issuer##*:}"
sed -i "s#127.0.0.1:8377#127.0.0.1:$mcp_port#g; s#127.0.0.1:8378#127.0.0.1:$auth_port#g" "$out/walk.sh"
w="$(bash -eo pipefail "$out/walk.sh" 2>&1)" || { echo "README walkthrough failed: $w"; exit 1; }
expect() { echo "$w" | grep -q -- "$1" || { echo "README walkthrough: no '$1' in:"; echo "$w"; exit 1; }; }
expect '"text":"- Tiers: '
expect 'HTTP/1.1 401'
expect "WWW-Authenticate: Bearer resource_metadata=\"http://127.0.0.1:$mcp_port/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read\""
expect 'notifications/tools/list_changed'
expect 'Notes of demo-robot:'
expect 'HTTP/1.1 403'
expect 'WWW-Authenticate: Bearer error="insufficient_scope", scope="notes:write"'
echo "demo: walkthrough ok ($mcp, $issuer)"
