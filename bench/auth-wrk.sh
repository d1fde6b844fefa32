#!/usr/bin/env bash
# tools/call throughput with a valid token against the same server without authorization, and
# with the same token through a just-in-time policy of 100 rules (POLICY_RULES). The tokens come
# from the test authorization server (oidc-provider, tests/integration/oauth); the three
# configurations alternate, REPS rounds of one run each, ratios per round against the run without
# authorization of the same round.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$here/build/bin/conformance-server}"
reps="${REPS:-3}"
duration="${DURATION:-10}"
work="$(mktemp -d)"
as_pid=""
cleanup() { [ -z "$as_pid" ] || kill "$as_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# run.sh starts servers on PORT_BASE and up: name that range as the resource (localhost, any port
# works at the authorization server); the resource is fixed by the config, so use one port.
port=$(( ${PORT_BASE:-18700} + 500 ))
. "$here/bench/auth-setup.sh"
"$bin" --help >/dev/null  # the binary exists

declare -a plain auth pol
for i in $(seq 1 "$reps"); do
  p=$(PORT_BASE=$port "$here/bench/run.sh" --servers conformance --workloads call --reps 1 --duration "$duration" "$bin" 2>/dev/null |
      awk -F'|' '/^\| conformance-server/{gsub(/[ ,]/,"",$3); sub(/\(.*/,"",$3); print $3; exit}')
  a=$(BENCH_AUTHORIZATION="Bearer $token" PORT_BASE=$port "$here/bench/run.sh" --servers conformance --workloads call --reps 1 \
      --duration "$duration" --conf-args "--auth-config $work/auth.yaml" "$bin" 2>/dev/null |
      awk -F'|' '/^\| conformance-server/{gsub(/[ ,]/,"",$3); sub(/\(.*/,"",$3); print $3; exit}')
  q=$(BENCH_AUTHORIZATION="Bearer $token" PORT_BASE=$port "$here/bench/run.sh" --servers conformance --workloads call --reps 1 \
      --duration "$duration" --conf-args "--auth-config $work/auth-policy.yaml --policy $work/policy.yaml" "$bin" 2>/dev/null |
      awk -F'|' '/^\| conformance-server/{gsub(/[ ,]/,"",$3); sub(/\(.*/,"",$3); print $3; exit}')
  echo "round $i: no authorization $p req/s, valid token $a req/s, token + $rules-rule policy $q req/s" >&2
  plain+=("$p"); auth+=("$a"); pol+=("$q")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
ratios=(); for i in "${!plain[@]}"; do ratios+=("$(awk -v a="${auth[$i]}" -v p="${plain[$i]}" 'BEGIN{printf "%.0f", 100*a/p}')"); done
pratios=(); for i in "${!plain[@]}"; do pratios+=("$(awk -v a="${pol[$i]}" -v p="${plain[$i]}" 'BEGIN{printf "%.0f", 100*a/p}')"); done
echo "| configuration | tools/call req/s, median (min-max) of $reps |"
echo "|---|---|"
echo "| no authorization | $(med "${plain[@]}") |"
echo "| valid ES256 token, scope check | $(med "${auth[@]}") |"
echo "| ratio, % of no authorization (per round) | $(med "${ratios[@]}") |"
echo "| valid ES256 token, $rules-rule policy | $(med "${pol[@]}") |"
echo "| ratio, % of no authorization (per round) | $(med "${pratios[@]}") |"
