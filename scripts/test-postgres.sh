#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for one `make test` run (fsync off: test data only).
#   test-postgres.sh start DIR   prints `SVX_TEST_PG_PORT=...` lines for the test run's environment
#   test-postgres.sh stop DIR    stops it (by the pid PostgreSQL recorded) and removes DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
dir=${2:?usage: $0 start|stop DIR}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

case "$1" in
  start)
    rm -rf "$dir"; mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    pg_init "$dir/data" trust
    for attempt in 1 2 3; do
      port=$(free_port)
      if pg_start "$dir/data" "$port" "$dir/postgres.log" fsync=off synchronous_commit=off full_page_writes=off max_connections=400; then
        echo "SVX_TEST_PG_HOST=127.0.0.1"; echo "SVX_TEST_PG_PORT=$port"; echo "SVX_TEST_PG_USER=postgres"
        exit 0
      fi
    done
    echo "could not start the test PostgreSQL; log:" >&2; cat "$dir/postgres.log" >&2; exit 1 ;;
  stop)
    [ -d "$dir/data" ] && pg_stop "$dir/data"
    rm -rf "$dir" ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
