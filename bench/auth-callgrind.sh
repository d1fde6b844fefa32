#!/usr/bin/env bash
# Instructions per tools/call request under callgrind in the three configurations of
# bench/auth-wrk.sh: no authorization; a valid ES256 token and the guard's scope check; the same
# token, the guard only authenticating, and a generated policy of POLICY_RULES (100) rules. The
# token comes from the test authorization server (tests/integration/oauth), as in auth-wrk.sh.
# Each configuration is one bench/callgrind.sh run of the session workload `call` (fresh server
# process, one I/O thread, REQUESTS requests on one keep-alive connection after WARMUP).
#
# usage: [REQUESTS=500] [WARMUP=100] [KEEP=dir (callgrind files in dir/plain, token, policy)] bench/auth-callgrind.sh [path/to/conformance-server]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$here/build/bin/conformance-server}"
requests="${REQUESTS:-500}"
warmup="${WARMUP:-100}"
work="$(mktemp -d)"
as_pid=""
cleanup() { [ -z "$as_pid" ] || kill "$as_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# callgrind.sh listens on PORT_BASE+1 for its one workload; the token's resource names that port.
port=$(( ${PORT_BASE:-18900} + 1 ))
. "$here/bench/auth-setup.sh"
[ -x "$bin" ] || { echo "no server binary at $bin" >&2; exit 2; }

run() {
  local key=$1 label=$2; shift 2
  PORT_BASE=$((port - 1)) "$here/bench/callgrind.sh" --workloads call --requests "$requests" --warmup "$warmup" \
    ${KEEP:+--keep "$KEEP/$key"} --label "$label" "$@" "$bin" | tail -n 1
}
echo "| configuration | requests | Ir total | Ir per request |"
echo "|---|---|---|---|"
run plain "no authorization"
run token "valid ES256 token, scope check" --authorization "Bearer $token" --conf-args "--auth-config $work/auth.yaml"
run policy "valid ES256 token, $rules-rule policy" --authorization "Bearer $token" \
  --conf-args "--auth-config $work/auth-policy.yaml --policy $work/policy.yaml"
