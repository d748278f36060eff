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
  # Against the release services of the local stack (`make bench` runs `make up` first).
  stack=${SVX_STACK_DIR:-$root/.svx/stack}
  for clients in 1 8; do
    echo; echo "## svx-load health --endpoint tcp://127.0.0.1:7101 (svx-auth of make up) --clients $clients"
    "$load" health --endpoint tcp://127.0.0.1:7101 --clients "$clients" --duration "$duration"
  done
  echo; echo "## svx-load auth-login --endpoint tcp://127.0.0.1:7101 --clients 8 (svx-auth of make up, durable PostgreSQL)"
  "$load" auth-login --endpoint tcp://127.0.0.1:7101 --clients 8 --duration "$duration" --server-pid "$(cat "$stack/auth.pid")"
} 2>&1 | tee "$report"
echo "report: $report"
