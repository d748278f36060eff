#!/usr/bin/env bash
# Issue #19's benchmark: login and DeleteItem rates with the audit trail on, beside the same build with it switched off
# by the test-only SVX_AUDIT_OFF_FOR_BENCHMARK=1 (with SVX_ENABLE_TEST_METHODS=1 in both, so the two stacks differ only
# in the switch). Each run starts the local stack afresh (make down; make up) and runs `svx-load audit-cost`; the runs
# alternate on, off, on, off, ... (SVX_BENCH_AUDIT_ROUNDS pairs, default 2) so drift of the machine hits both alike.
# Output: OUT_DIR/bench-audit-<time>.txt, ending with the mean of each and the cost of the trail in percent.
# The local stack is left down.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-$root/.svx/bench}
rounds=${SVX_BENCH_AUDIT_ROUNDS:-2}
load="$(cd "$root" && swift build -c release --show-bin-path)/svx-load"
mkdir -p "$out_dir"
report="$out_dir/bench-audit-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# svx audit-trail cost, $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -srm)"
  echo "# git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
  for round in $(seq 1 "$rounds"); do
    for mode in on off; do
      make -C "$root" down >/dev/null 2>&1 || true
      if [ "$mode" = off ]; then
        SVX_ENABLE_TEST_METHODS=1 SVX_AUDIT_OFF_FOR_BENCHMARK=1 make -C "$root" up >/dev/null
      else
        SVX_ENABLE_TEST_METHODS=1 make -C "$root" up >/dev/null
      fi
      echo; echo "## round $round: svx-load audit-cost --label audit-$mode (fresh stack)"
      "$load" audit-cost --label "audit-$mode" --credentials-file "$out_dir/unused.json" ${SVX_BENCH_AUDIT_ARGS:-}
    done
  done
  make -C "$root" down >/dev/null 2>&1 || true
} 2>&1 | tee "$report"
awk '/^== audit-cost/ {
       label = $3; gsub(/[\[\]:]/, "", label)
       login[label] += $5; deletes[label] += $12; runs[label]++
     }
     END {
       if (runs["audit-on"] == 0 || runs["audit-off"] == 0) { print "missing runs"; exit 1 }
       lon = login["audit-on"] / runs["audit-on"]; loff = login["audit-off"] / runs["audit-off"]
       don = deletes["audit-on"] / runs["audit-on"]; doff = deletes["audit-off"] / runs["audit-off"]
       printf "\n== mean of %d runs each: login %.1f/s on, %.1f/s off (the trail costs %.1f%%); DeleteItem %.1f/s on, %.1f/s off (the trail costs %.1f%%; negative: faster with it, i.e. noise)\n",
         runs["audit-on"], lon, loff, (1 - lon / loff) * 100, don, doff, (1 - don / doff) * 100
     }' "$report" | tee -a "$report"
echo "report: $report"
