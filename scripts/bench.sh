#!/usr/bin/env bash
# The measurements behind BENCHMARKS.md, in one run, written to OUT_DIR/bench-<time>.txt.
# Every number is printed beside the raw limit measured in the same process run.
# SVX_BENCH_SECTIONS (default "rpc crypto auth vault classification sharing shares memory") picks sections; SVX_BENCH_VAULT_ITEMS=1000000 adds the
# long vault-get runs on a large vault; SVX_AUTH_ENDPOINT / SVX_VAULT_ENDPOINT and SVX_STACK_DIR (pid files,
# secrets.env) point the service sections at another stack.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-$root/.svx/bench}
duration=${SVX_BENCH_DURATION:-10}
load="$(cd "$root" && swift build -c release --show-bin-path)/svx-load"
sections=" ${SVX_BENCH_SECTIONS:-rpc crypto auth vault classification sharing shares memory} "
want() { [[ $sections == *" $1 "* ]]; }
stack=${SVX_STACK_DIR:-$root/.svx/stack}
# svx-load pins the stack's CURVE keys (unless SVX_TRANSPORT=plaintext).
export SVX_KEYS_DIR=${SVX_KEYS_DIR:-$stack/keys}
auth_endpoint=${SVX_AUTH_ENDPOINT:-tcp://127.0.0.1:7101}
vault_endpoint=${SVX_VAULT_ENDPOINT:-tcp://127.0.0.1:7103}
keystore_endpoint=${SVX_KEYSTORE_ENDPOINT:-tcp://127.0.0.1:7102}
sharing_endpoint=${SVX_SHARING_ENDPOINT:-tcp://127.0.0.1:7104}
classification_endpoint=${SVX_CLASSIFICATION_ENDPOINT:-tcp://127.0.0.1:7105}
mkdir -p "$out_dir"
report="$out_dir/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# svx benchmarks, $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -srm)"
  echo "# git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
  if want rpc; then
    for clients in 1 8; do
      echo; echo "## svx-load baseline --clients $clients --duration $duration --server-only --pooled"
      "$load" baseline --clients "$clients" --duration "$duration" --server-only --pooled
    done
  fi
  if want crypto; then echo; echo "## svx-load crypto"; "$load" crypto; fi
  # Against the release services of the local stack (`make bench` runs `make up` first).
  if want auth; then
    for clients in 1 8; do
      echo; echo "## svx-load health --endpoint $auth_endpoint (svx-auth of make up) --clients $clients"
      "$load" health --endpoint "$auth_endpoint" --clients "$clients" --duration "$duration"
    done
    echo; echo "## svx-load auth-login --endpoint $auth_endpoint --clients 8 (svx-auth of make up, durable PostgreSQL)"
    "$load" auth-login --endpoint "$auth_endpoint" --clients 8 --duration "$duration" --server-pid "$(cat "$stack/auth.pid")"
  fi

  # Vault: GetItem / CreateItem beside raw libpq on the same rows (svx_vault role, password from the stack's
  # secrets), peak RSS of every service (VmHWM, reset before each run). Two benchmark users, credentials in
  # OUT_DIR (0600, test credentials only): one kept at 1 000 items, one seeded up to SVX_BENCH_VAULT_ITEMS.
  if want vault; then
    vault=(--auth-endpoint "$auth_endpoint" --vault-endpoint "$vault_endpoint")
    db=(--secrets-file "$stack/secrets.env")
    pids=(); for s in auth keystore vault sharing classification; do
      if [ -f "$stack/$s.pid" ]; then pids+=(--server-pid "$(cat "$stack/$s.pid")"); fi
    done
    small=(--credentials-file "$out_dir/vault-user-1k.json")
    echo; echo "## svx-load vault-seed --items 1000"
    "$load" vault-seed "${vault[@]}" "${small[@]}" --items 1000
    for clients in 1 8; do
      echo; echo "## svx-load vault-get --clients $clients (1 000 items) beside raw libpq SELECT"
      "$load" vault-get "${vault[@]}" "${db[@]}" "${small[@]}" --clients "$clients" --duration "$duration" "${pids[@]}"
    done
    echo; echo "## svx-load vault-create --clients 8 beside raw libpq INSERT"
    "$load" vault-create "${vault[@]}" "${db[@]}" "${small[@]}" --clients 8 --duration "$duration" "${pids[@]}"
    # The large vault is opt-in: seeding 1 000 000 items takes long (BENCHMARKS.md has the rate); it is kept
    # between runs (the seeder only adds what is missing).
    big_items=${SVX_BENCH_VAULT_ITEMS:-0}
    if [ "$big_items" -gt 1000 ]; then
      echo; echo "## svx-load vault-seed --items $big_items"
      "$load" vault-seed "${vault[@]}" --credentials-file "$out_dir/vault-user-big.json" --items "$big_items" --max-seconds 7200
      for clients in 1 8; do
        for user in 1k big; do
          echo; echo "## svx-load vault-get --clients $clients ($user vault) for the p99 comparison"
          "$load" vault-get "${vault[@]}" "${db[@]}" --credentials-file "$out_dir/vault-user-$user.json" --clients "$clients" \
            --duration "$duration" "${pids[@]}"
        done
      done
    else
      echo; echo "## vault-get with a large vault: skipped (SVX_BENCH_VAULT_ITEMS=1000000 make bench runs it)"
    fi
  fi

  # Classification: a third benchmark user with 10 000 items, all classified under one tree of 111 nodes in `tag`
  # (made once, kept in OUT_DIR); ListEntities of the tree's root beside the same query through raw libpq (the
  # svx_classification role), then the Vault's ListItems by that node.
  if want classification; then
    vault=(--auth-endpoint "$auth_endpoint" --vault-endpoint "$vault_endpoint")
    pids=(); for s in vault classification; do
      if [ -f "$stack/$s.pid" ]; then pids+=(--server-pid "$(cat "$stack/$s.pid")"); fi
    done
    tagged=(--credentials-file "$out_dir/classification-user.json")
    echo; echo "## svx-load vault-seed --items 10000 (the classification user)"
    "$load" vault-seed "${vault[@]}" "${tagged[@]}" --items 10000
    for clients in 1 8; do
      echo; echo "## svx-load classification-list --clients $clients (10 000 items under the node)"
      "$load" classification-list "${vault[@]}" "${tagged[@]}" --classification-endpoint "$classification_endpoint" \
        --secrets-file "$stack/secrets.env" --items 10000 --clients "$clients" --duration "$duration" "${pids[@]}"
    done
  fi

  # Sharing: AcceptInvitation and GetConnection beside raw libpq running the service's own statements (SharingSQL) as
  # svx_sharing, at 8 clients. Users, RSA-4096 connection keys and invitations are made before the timed part (new
  # ones each run: an invitation is consumed by its acceptance).
  if want sharing; then
    pids=(); for s in sharing keystore auth; do
      if [ -f "$stack/$s.pid" ]; then pids+=(--server-pid "$(cat "$stack/$s.pid")"); fi
    done
    echo; echo "## svx-load sharing --clients 8 (AcceptInvitation, GetConnection) beside raw libpq"
    "$load" sharing --auth-endpoint "$auth_endpoint" --keystore-endpoint "$keystore_endpoint" --sharing-endpoint "$sharing_endpoint" \
      --secrets-file "$stack/secrets.env" --clients 8 --duration "$duration" "${pids[@]}"
  fi

  # Shares: GetIncomingShare with content beside raw libpq reading the same rows, its latency with 10 000 incoming
  # shares vs 10, CreateShare of one item to 50 recipients and UpdateShares of an item's 50 shares, each beside its
  # transaction run raw (SharingSQL), 8 clients.
  # The same users as the sharing section; shares and prepared requests are made before the timed parts.
  if want shares; then
    pids=(); for s in sharing vault auth; do
      if [ -f "$stack/$s.pid" ]; then pids+=(--server-pid "$(cat "$stack/$s.pid")"); fi
    done
    echo; echo "## svx-load shares --clients 8 (GetIncomingShare, CreateShare to 50, UpdateShares of 50) beside raw libpq"
    "$load" shares --auth-endpoint "$auth_endpoint" --keystore-endpoint "$keystore_endpoint" --sharing-endpoint "$sharing_endpoint" \
      --vault-endpoint "$vault_endpoint" --secrets-file "$stack/secrets.env" --clients 8 --duration "$duration" "${pids[@]}"
  fi

  # Memory under hostile traffic (issue: bounded resources): every service's RSS idle, at its peak under the standard
  # GetItem load (8 clients), and after 1, 3 and 10 sweeps of about 400 malformed, oversized and unknown requests each
  # (svx-load hostile; sweep 0 of its table is the RSS before the first sweep).
  if want memory; then
    vault=(--auth-endpoint "$auth_endpoint" --vault-endpoint "$vault_endpoint")
    targets=(); pids=()
    for pair in auth="$auth_endpoint" keystore="$keystore_endpoint" vault="$vault_endpoint" sharing="$sharing_endpoint" \
      classification="$classification_endpoint"; do
      s=${pair%%=*}
      if [ -f "$stack/$s.pid" ]; then
        targets+=(--target "$pair,$(cat "$stack/$s.pid")"); pids+=(--server-pid "$(cat "$stack/$s.pid")")
      fi
    done
    echo; echo "## RSS idle (VmRSS, KiB)"
    for s in auth keystore vault sharing classification; do
      [ -f "$stack/$s.pid" ] && echo "   svx-$s: $(awk '/VmRSS/ {print $2}' "/proc/$(cat "$stack/$s.pid")/status") KiB"
    done
    echo; echo "## svx-load vault-get --clients 8 (1 000 items): peak RSS of every service under the standard GetItem load"
    "$load" vault-seed "${vault[@]}" --credentials-file "$out_dir/vault-user-1k.json" --items 1000 >/dev/null
    "$load" vault-get "${vault[@]}" --secrets-file "$stack/secrets.env" --credentials-file "$out_dir/vault-user-1k.json" \
      --clients 8 --duration "$duration" "${pids[@]}"
    echo; echo "## svx-load hostile --sweeps 10 (RSS after sweeps 1, 3 and 10)"
    "$load" hostile "${targets[@]}" --sweeps 10 --report-after 1,3,10
  fi
} 2>&1 | tee "$report"
echo "report: $report"
