#!/usr/bin/env bash
# The measurements behind BENCHMARKS.md, in one run, written to OUT_DIR/bench-<time>.txt.
# Every number is printed beside the raw limit measured in the same process run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-$root/.svx/bench}
duration=${SVX_BENCH_DURATION:-10}
load="$(cd "$root" && swift build -c release --show-bin-path)/svx-load"
mkdir -p "$out_dir"
report="$out_dir/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# svx benchmarks, $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -srm)"
  echo "# git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
  for clients in 1 8; do
    echo; echo "## svx-load baseline --clients $clients --duration $duration"
    "$load" baseline --clients "$clients" --duration "$duration"
  done
  echo; echo "## svx-load crypto"
  "$load" crypto
  if "$root/scripts/stack.sh" status >/dev/null 2>&1; then
    for clients in 1 8; do
      echo; echo "## svx-load health --endpoint tcp://127.0.0.1:7101 (svx-auth of make up) --clients $clients"
      "$load" health --endpoint tcp://127.0.0.1:7101 --clients "$clients" --duration "$duration"
    done
  else
    echo; echo "## (make up not running: skipped svx-load health against svx-auth)"
  fi
} 2>&1 | tee "$report"
echo "report: $report"
