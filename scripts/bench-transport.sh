#!/usr/bin/env bash
# Issue #20's benchmark: what CURVE costs. Health/Check (svx-auth) and GetItem (svx-vault) at 1 and 8 clients, and
# logins/s at 8 clients, against a stack over CURVE beside the same build over plain TCP (SVX_TRANSPORT=plaintext),
# with the raw limits of the same run: `svx-load baseline` (raw libzmq + protobuf in-process, plain and --curve) and
# vault-get's raw libpq SELECT. Each run starts a stack of its own from nothing (a new SVX_STACK_DIR: a new database, on
# the usual ports, so the local stack must be down) and removes it after. The runs alternate curve, plaintext, ...
# (SVX_BENCH_TRANSPORT_ROUNDS pairs, default 2) so drift of the machine hits both alike.
# Output: OUT_DIR/bench-transport-<time>.txt, ending with the median of each figure per transport and the ratios.
# The local stack is left down (run `make up` again for it: its data is untouched).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-$root/.svx/bench}
rounds=${SVX_BENCH_TRANSPORT_ROUNDS:-2}
duration=${SVX_BENCH_DURATION:-10}
items=${SVX_BENCH_TRANSPORT_ITEMS:-200}
load="$(cd "$root" && swift build -c release --show-bin-path)/svx-load"
auth_endpoint=tcp://127.0.0.1:7101
vault_endpoint=tcp://127.0.0.1:7103
mkdir -p "$out_dir"
report="$out_dir/bench-transport-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# svx transport cost (CURVE vs plain TCP), $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -srm)"
  echo "# git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
  make -C "$root" down >/dev/null 2>&1 || true
  run_stack=""
  trap '[ -n "$run_stack" ] && SVX_STACK_DIR=$run_stack make -C "$root" down >/dev/null 2>&1; [ -n "$run_stack" ] && rm -rf "$run_stack"' EXIT
  for round in $(seq 1 "$rounds"); do
    for mode in curve plaintext; do
      run_stack=$(mktemp -d "$out_dir/transport-stack.XXXXXX")
      SVX_STACK_DIR=$run_stack SVX_TRANSPORT=$mode make -C "$root" up >/dev/null
      export SVX_TRANSPORT=$mode SVX_KEYS_DIR=$run_stack/keys
      curve_flag=(); [ "$mode" = curve ] && curve_flag=(--curve)
      pids=(); for s in auth vault; do pids+=(--server-pid "$(cat "$run_stack/$s.pid")"); done
      vault=(--auth-endpoint "$auth_endpoint" --vault-endpoint "$vault_endpoint")
      db=(--secrets-file "$run_stack/secrets.env")
      credentials=(--credentials-file "$run_stack/vault-user.json")
      for clients in 1 8; do
        echo; echo "## round $round [$mode]: svx-load baseline --clients $clients ${curve_flag[*]} (raw limit, in-process)"
        "$load" baseline --clients "$clients" --duration "$duration" "${curve_flag[@]}"
        echo; echo "## round $round [$mode]: svx-load health --clients $clients (svx-auth)"
        "$load" health --endpoint "$auth_endpoint" --clients "$clients" --duration "$duration"
      done
      echo; echo "## round $round [$mode]: svx-load vault-seed --items $items"
      "$load" vault-seed "${vault[@]}" "${credentials[@]}" --items "$items" >/dev/null
      for clients in 1 8; do
        echo; echo "## round $round [$mode]: svx-load vault-get --clients $clients beside raw libpq"
        "$load" vault-get "${vault[@]}" "${db[@]}" "${credentials[@]}" --clients "$clients" --duration "$duration" "${pids[@]}"
      done
      echo; echo "## round $round [$mode]: svx-load auth-login --clients 8"
      "$load" auth-login --endpoint "$auth_endpoint" --clients 8 --duration "$duration" --server-pid "$(cat "$run_stack/auth.pid")"
      unset SVX_TRANSPORT SVX_KEYS_DIR
      SVX_STACK_DIR=$run_stack make -C "$root" down >/dev/null 2>&1 || true
      rm -rf "$run_stack"
      run_stack=""
    done
  done
} 2>&1 | tee "$report"
python3 "$root/scripts/bench-transport-summary.py" "$report" | tee -a "$report"
echo "report: $report"
