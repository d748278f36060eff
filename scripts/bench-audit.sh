#!/usr/bin/env bash
# Issue #19's benchmark: login and DeleteItem rates with the audit trail on, beside the same build with it switched off
# by the test-only SVX_AUDIT_OFF_FOR_BENCHMARK=1 (with SVX_ENABLE_TEST_METHODS=1 in both, so the two stacks differ only
# in the switch). Each run starts a stack of its own from nothing (a new SVX_STACK_DIR: a new, empty database, on the
# usual ports, so the local stack must be down) and runs `svx-load audit-cost`; the stack and its directory are removed
# after the run. The runs alternate on, off, on, off, ... (SVX_BENCH_AUDIT_ROUNDS pairs, default 2) so drift of the
# machine hits both alike.
# Output: OUT_DIR/bench-audit-<time>.txt, ending with the median of each and the cost of the trail in percent.
# The local stack is left down (run `make up` again for it: its data is untouched).
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
  make -C "$root" down >/dev/null 2>&1 || true
  for round in $(seq 1 "$rounds"); do
    for mode in on off; do
      run_stack=$(mktemp -d "$out_dir/audit-stack.XXXXXX")
      if [ "$mode" = off ]; then
        SVX_STACK_DIR=$run_stack SVX_ENABLE_TEST_METHODS=1 SVX_AUDIT_OFF_FOR_BENCHMARK=1 make -C "$root" up >/dev/null
      else
        SVX_STACK_DIR=$run_stack SVX_ENABLE_TEST_METHODS=1 make -C "$root" up >/dev/null
      fi
      echo; echo "## round $round: svx-load audit-cost --label audit-$mode (a new stack and database)"
      SVX_KEYS_DIR=$run_stack/keys "$load" audit-cost --label "audit-$mode" --credentials-file "$out_dir/unused.json" ${SVX_BENCH_AUDIT_ARGS:-}
      SVX_STACK_DIR=$run_stack make -C "$root" down >/dev/null 2>&1 || true
      rm -rf "$run_stack"
    done
  done
} 2>&1 | tee "$report"
python3 - "$report" <<'PY' | tee -a "$report"
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"== audit-cost \[(\S+)\]: login ([\d.]+) logins/s .* DeleteItem ([\d.]+) deletes/s", line)
    if m:
        runs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
on, off = runs.get("audit-on", []), runs.get("audit-off", [])
if not on or not off:
    sys.exit("missing runs")
def summary(index, name):
    a = [r[index] for r in on]; b = [r[index] for r in off]
    mon, moff = statistics.median(a), statistics.median(b)
    return (f"{name}: median {mon:.1f}/s with the trail, {moff:.1f}/s without (the trail costs {(1 - mon / moff) * 100:.1f}%;"
            f" runs on {', '.join(f'{x:.0f}' for x in a)}; off {', '.join(f'{x:.0f}' for x in b)})")
print(f"\n== {len(on)} runs each, alternating; a negative cost is noise")
print("== " + summary(0, "login"))
print("== " + summary(1, "DeleteItem"))
PY
echo "report: $report"
