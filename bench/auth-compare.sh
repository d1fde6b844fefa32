#!/usr/bin/env bash
# tools/call throughput with a valid token through the 100-rule policy of bench/auth-wrk.sh, for two
# builds of the conformance server in one run: REPS rounds, each running BASE then NEW (one wrk run
# each, server and wrk pinned to different cores by bench/run.sh), the ratio NEW/BASE per round.
#
# usage: [REPS=3] [DURATION=10] bench/auth-compare.sh path/to/base/conformance-server path/to/new/conformance-server
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:?base binary}"
new="${2:?new binary}"
reps="${REPS:-3}"
duration="${DURATION:-10}"
work="$(mktemp -d)"
as_pid=""
cleanup() { [ -z "$as_pid" ] || kill "$as_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(( ${PORT_BASE:-18700} + 500 ))
. "$here/bench/auth-setup.sh"
one() {
  BENCH_AUTHORIZATION="Bearer $token" PORT_BASE=$port "$here/bench/run.sh" --servers conformance --workloads call --reps 1 \
    --duration "$duration" --conf-args "--auth-config $work/auth-policy.yaml --policy $work/policy.yaml" "$1" 2>/dev/null |
    awk -F'|' '/^\| conformance-server/{gsub(/[ ,]/,"",$3); sub(/\(.*/,"",$3); print $3; exit}'
}
declare -a b n r
for i in $(seq 1 "$reps"); do
  x=$(one "$base"); y=$(one "$new")
  echo "round $i: base $x req/s, new $y req/s" >&2
  b+=("$x"); n+=("$y"); r+=("$(awk -v a="$y" -v p="$x" 'BEGIN{printf "%.1f", 100*a/p}')")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "| build | tools/call req/s, token + $rules-rule policy, median (min-max) of $reps |"
echo "|---|---|"
echo "| base | $(med "${b[@]}") |"
echo "| new | $(med "${n[@]}") |"
echo "| new / base, % per round | $(med "${r[@]}") |"
