#!/usr/bin/env bash
# Instructions per tools/call `echo` through `jitgate serve` with one stdio upstream
# (conformance-server --bench --stdio), under callgrind: the gateway process and, with
# --child, its child upstream too. The same request as bench/gateway-wrk.sh. Builds nothing.
# See BENCHMARKS.md, "Gateway versus direct".
#
# usage: bench/gateway-callgrind.sh [options]
#
#   --requests N     measured calls (default 2000)
#   --warmup N       calls sent before counting starts (default 200)
#   --child          also run the child upstream under callgrind and report it
#   --keep DIR       keep the callgrind output files in DIR (for callgrind_annotate)
#   --jitgate PATH   the jitgate binary (default build/bin/jitgate)
#   --upstream PATH  the conformance server (default build/bin/conformance-server)
#
# CALLGRIND_ARGS: extra valgrind options. PORT: the gateway's port (default 18950).
#
# Method: start `valgrind --tool=callgrind jitgate serve --config <generated yaml>` (the child is
# spawned by the gateway; with --child valgrind follows it, --trace-children=yes); wait for
# /readyz; open a session (initialize, notifications/initialized); check one echo; send the warm-up
# calls; zero the counters (callgrind_control -z, every traced process); send N calls over one
# keep-alive connection (one curl with a URL range); dump (callgrind_control -d) and divide each
# process's total Ir by N. Every thread of a process counts (HTTP I/O thread, the upstream's I/O
# thread); the kernel does not.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
N=2000
WARM=200
CHILD=0
KEEP=""
JITGATE=$REPO/build/bin/jitgate
UPSTREAM=$REPO/build/bin/conformance-server
PORT=${PORT:-18950}

die() { echo "gateway-callgrind.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N=$2; shift 2 ;;
    --warmup) WARM=$2; shift 2 ;;
    --child) CHILD=1; shift ;;
    --keep) KEEP=$2; shift 2 ;;
    --jitgate) JITGATE=$2; shift 2 ;;
    --upstream) UPSTREAM=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -x "$JITGATE" ] || die "no jitgate at $JITGATE"
[ -x "$UPSTREAM" ] || die "no conformance server at $UPSTREAM"
for t in valgrind callgrind_control curl jq; do command -v "$t" >/dev/null || die "missing $t"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-gwcg.XXXXXX")
OUT=${KEEP:-$TMP}
mkdir -p "$OUT"
VG_PID=""
cleanup() {
  if [ -n "$VG_PID" ]; then kill -TERM "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

URL=http://127.0.0.1:$PORT/mcp
cat >"$TMP/gateway.yaml" <<EOF
listen: {host: 127.0.0.1, port: $PORT, path: /mcp}
upstreams:
  - name: conformance
    stdio:
      command: $UPSTREAM
      args: [--bench, --stdio]
EOF
trace=no
[ "$CHILD" = 1 ] && trace=yes
# shellcheck disable=SC2086
valgrind --tool=callgrind ${CALLGRIND_ARGS:-} --trace-children=$trace --callgrind-out-file="$OUT/callgrind.gw.%p" \
  "$JITGATE" serve --config "$TMP/gateway.yaml" >"$TMP/stdout" 2>"$TMP/stderr" &
VG_PID=$!
for i in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
  kill -0 "$VG_PID" 2>/dev/null || die "gateway exited: $(tail -5 "$TMP/stderr")"
  [ "$i" -lt 600 ] || die "gateway not ready within 60 s: $(tail -5 "$TMP/stderr")"
  sleep 0.1
done
CHILD_PID=$(pgrep -P "$VG_PID" | head -1 || true)

hdrs=(-H "Content-Type: application/json" -H "Accept: application/json, text/event-stream")
curl -sS -D "$TMP/h" -o "$TMP/b" "${hdrs[@]}" --data-binary \
  '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"jitgate-bench","version":"1"}}}' "$URL"
sid=$(tr -d '\r' <"$TMP/h" | awk -F': *' 'tolower($1)=="mcp-session-id"{print $2}')
[ -n "$sid" ] || die "initialize failed: $(head -c 300 "$TMP/b")"
hdrs+=(-H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: 2025-11-25")
curl -sS -o /dev/null "${hdrs[@]}" --data-binary '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$URL"
body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello bench"}}}'
curl -sS -o "$TMP/b" "${hdrs[@]}" --data-binary "$body" "$URL"
jq -e '.result.content[0].text=="hello bench"' "$TMP/b" >/dev/null || die "unexpected answer $(head -c 300 "$TMP/b")"
curl -sS -o /dev/null "${hdrs[@]}" --data-binary "$body" "$URL?[1-$WARM]"

pids=("$VG_PID")
[ "$CHILD" = 1 ] && [ -n "$CHILD_PID" ] && pids+=("$CHILD_PID")
for p in "${pids[@]}"; do callgrind_control -z "$p" >/dev/null 2>&1; done
curl -sS -o /dev/null -w '%{http_code}\n' "${hdrs[@]}" --data-binary "$body" "$URL?[1-$N]" >"$TMP/codes"
for p in "${pids[@]}"; do callgrind_control -d "$p" >/dev/null 2>&1; done
bad=$(grep -cv '^200$' "$TMP/codes" || true)
[ "$bad" = 0 ] || die "$bad responses were not HTTP 200"

printf '| process | requests | Ir total | Ir per request |\n|---|---|---|---|\n'
label() { [ "$1" = "$VG_PID" ] && echo "gateway (jitgate serve)" || echo "child (conformance-server --stdio)"; }
for p in "${pids[@]}"; do
  dump=$(ls -t "$OUT"/callgrind.gw."$p".* 2>/dev/null | grep -v "\.$p$" | head -1)
  [ -n "$dump" ] || die "no callgrind dump for pid $p"
  total=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
  printf '| %s | %d | %s | %s |\n' "$(label "$p")" "$N" "$total" "$(awk -v t="$total" -v n="$N" 'BEGIN{printf "%.0f", t/n}')"
done
kill -TERM "$VG_PID"; wait "$VG_PID" 2>/dev/null || true; VG_PID=""
