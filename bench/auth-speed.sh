#!/usr/bin/env bash
# Token verification per second per core: jitgate's verifier (Google Benchmark) beside
# `openssl speed` on the same core, interleaved, 3 rounds; prints medians with min-max.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$here/build/bin/auth-bench}"
cpu="${CPU:-1}"
rounds="${ROUNDS:-3}"
declare -a es rs cached oes ors
for i in $(seq 1 "$rounds"); do
  out=$(taskset -c "$cpu" "$bin" --benchmark_min_time=2 --benchmark_format=csv 2>/dev/null)
  es+=("$(echo "$out" | awk -F, '/BM_VerifyES256/{printf "%.0f", $7}')")
  rs+=("$(echo "$out" | awk -F, '/BM_VerifyRS256/{printf "%.0f", $7}')")
  cached+=("$(echo "$out" | awk -F, '/BM_CachedPath/{printf "%.0f", $4}')")
  o=$(taskset -c "$cpu" openssl speed -seconds 2 ecdsap256 rsa2048 2>/dev/null)
  oes+=("$(echo "$o" | awk '/256 bits ecdsa/{printf "%.0f", $NF}')")
  ors+=("$(echo "$o" | awk '/^rsa 2048 bits/{printf "%.0f", $NF}')")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
ratio() { local -n a=$1 b=$2; local r=(); for i in "${!a[@]}"; do r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN{printf "%.0f", 100*x/y}')"); done; med "${r[@]}"; }
echo "| measure | median (min-max) over $rounds rounds |"
echo "|---|---|"
echo "| jitgate ES256 verifications/s | $(med "${es[@]}") |"
echo "| openssl speed ecdsap256 verify/s | $(med "${oes[@]}") |"
echo "| ES256 ratio, % of openssl | $(ratio es oes) |"
echo "| jitgate RS256 verifications/s | $(med "${rs[@]}") |"
echo "| openssl speed rsa2048 verify/s | $(med "${ors[@]}") |"
echo "| RS256 ratio, % of openssl | $(ratio rs ors) |"
echo "| cached path, ns per verification (CPU time) | $(med "${cached[@]}") |"
