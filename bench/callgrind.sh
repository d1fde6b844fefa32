#!/usr/bin/env bash
# Instructions per request of conformance-server --bench under callgrind, for
# the benchmark workloads (the same request bodies and headers as
# bench/wrk/*.lua and bench/run.sh). Builds nothing. See BENCHMARKS.md.
#
# usage: bench/callgrind.sh [options] path/to/conformance-server
#
#   --workloads LIST  subset of "call list call2026 list2026" (default
#                     "list list2026")
#   --requests N      measured requests per workload (default 2000)
#   --warmup N        requests sent before counting starts (default 200)
#   --keep DIR        keep the callgrind output files in DIR (for
#                     callgrind_annotate); default: a temp dir, removed
#   --conf-args ARGS  extra arguments for the server, word-split (e.g.
#                     "--auth-config FILE --policy FILE")
#   --authorization V send "Authorization: V" with every request
#   --label TEXT      name the table's rows TEXT instead of the workload
#
# CALLGRIND_ARGS: extra valgrind options (e.g. "--cache-sim=yes" to count
# simulated cache misses; the dumps in --keep then hold them).
# The servers listen on PORT_BASE+1, +2, ... (one per workload; PORT_BASE
# defaults to 18900). bench/auth-callgrind.sh runs the token configurations.
#
# Method, per workload: start `valgrind --tool=callgrind <server> --bench
# --port P --threads 1` (fresh process); for session workloads open a session
# (initialize, notifications/initialized); send the warm-up requests; zero the
# counters (callgrind_control -z); send N requests over one keep-alive
# connection (one curl with a URL range, so curl reuses the connection); dump
# (callgrind_control -d) and divide the dump's total Ir by N. Everything the
# server process executes for those N requests counts, on every thread
# (I/O thread, blocking pool); the kernel does not.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORKLOADS="list list2026"
N=2000
WARM=200
KEEP=""
CONF_ARGS=""
AUTHZ=""
LABEL=""
BIN=""
PORT=${PORT_BASE:-18900}

die() { echo "callgrind.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --workloads) WORKLOADS=$2; shift 2 ;;
    --requests) N=$2; shift 2 ;;
    --warmup) WARM=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --conf-args) CONF_ARGS=$2; shift 2 ;;
    --authorization) AUTHZ=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --*) die "unknown option $1" ;;
    *) BIN=$1; shift ;;
  esac
done
[ -x "$BIN" ] || die "conformance server binary not found: '$BIN'"
for t in valgrind callgrind_control curl jq; do command -v "$t" >/dev/null || die "missing $t"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-cg.XXXXXX")
OUT=${KEEP:-$TMP}
mkdir -p "$OUT"
VG_PID=""
cleanup() {
  if [ -n "$VG_PID" ]; then kill -TERM "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

CT="Content-Type: application/json"
AC="Accept: application/json, text/event-stream"
META26='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
body_of() {
  case $1 in
    call) echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello bench"}}}' ;;
    list) echo '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' ;;
    call2026) echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello bench"},'"$META26"'}}' ;;
    list2026) echo '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{'"$META26"'}}' ;;
    *) die "unknown workload '$1'" ;;
  esac
}

printf '| workload | requests | Ir total | Ir per request |\n|---|---|---|---|\n'
for wl in $WORKLOADS; do
  body=$(body_of "$wl")
  PORT=$((PORT + 1))
  URL="http://127.0.0.1:$PORT/mcp"
  # shellcheck disable=SC2086
  valgrind --tool=callgrind ${CALLGRIND_ARGS:-} --callgrind-out-file="$OUT/callgrind.$wl.%p" \
    "$BIN" --bench --port "$PORT" --threads 1 $CONF_ARGS > "$TMP/$wl.stdout" 2> "$TMP/$wl.stderr" &
  VG_PID=$!
  for _ in $(seq 1 300); do grep -qF "$URL" "$TMP/$wl.stdout" 2>/dev/null && break; sleep 0.1; done
  grep -qF "$URL" "$TMP/$wl.stdout" || die "server did not start: $(tail -5 "$TMP/$wl.stderr")"
  hdrs=(-H "$CT" -H "$AC")
  [ -z "$AUTHZ" ] || hdrs+=(-H "Authorization: $AUTHZ")
  case $wl in
    call|list)
      curl -sS -D "$TMP/h" -o "$TMP/b" "${hdrs[@]}" --data-binary \
        '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"jitgate-bench","version":"1"}}}' "$URL"
      sid=$(tr -d '\r' < "$TMP/h" | awk -F': *' 'tolower($1)=="mcp-session-id"{print $2}')
      [ -n "$sid" ] || die "initialize failed"
      hdrs+=(-H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: 2025-11-25")
      curl -sS -o /dev/null "${hdrs[@]}" --data-binary '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$URL" ;;
    call2026) hdrs+=(-H "MCP-Protocol-Version: 2026-07-28" -H "Mcp-Method: tools/call" -H "Mcp-Name: echo") ;;
    list2026) hdrs+=(-H "MCP-Protocol-Version: 2026-07-28" -H "Mcp-Method: tools/list") ;;
  esac
  # the answer must be the real one, not an error
  curl -sS -o "$TMP/b" "${hdrs[@]}" --data-binary "$body" "$URL"
  case $wl in
    list*) jq -e '(.result.tools|length)==50' "$TMP/b" >/dev/null || die "$wl: unexpected answer $(head -c 300 "$TMP/b")" ;;
    call*) jq -e '.result.content[0].text=="hello bench"' "$TMP/b" >/dev/null || die "$wl: unexpected answer $(head -c 300 "$TMP/b")" ;;
  esac
  curl -sS -o /dev/null "${hdrs[@]}" --data-binary "$body" "$URL?[1-$WARM]"
  callgrind_control -z "$VG_PID" > /dev/null 2>&1
  curl -sS -o /dev/null -w '%{http_code}\n' "${hdrs[@]}" --data-binary "$body" "$URL?[1-$N]" > "$TMP/codes"
  callgrind_control -d "$VG_PID" > /dev/null 2>&1
  bad=$(grep -cv '^200$' "$TMP/codes" || true)
  [ "$bad" = 0 ] || die "$wl: $bad responses were not HTTP 200"
  kill -TERM "$VG_PID"; wait "$VG_PID" 2>/dev/null || true; VG_PID=""
  dump=$(ls -t "$OUT"/callgrind."$wl".*.1 2>/dev/null | head -1)
  [ -n "$dump" ] || die "$wl: no callgrind dump"
  total=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
  printf '| %s | %d | %s | %s |\n' "${LABEL:-$wl}" "$N" "$total" "$(awk -v t="$total" -v n="$N" 'BEGIN{printf "%.0f", t/n}')"
done
