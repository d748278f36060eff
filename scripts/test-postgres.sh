#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for one `make test` run (fsync off: test data only).
#   test-postgres.sh start DIR   prints `SVX_TEST_PG_PORT=...` lines for the test run's environment
#   test-postgres.sh stop DIR    stops it (by the pid PostgreSQL recorded) and removes it and DIR
# The cluster lives in a new directory under the system temp folder, owned by the OS user the server runs as
# (`postgres` when run as root): the checkout may sit in a folder that user cannot enter. DIR (in the checkout,
# mode 0700) records that directory's path in DIR/cluster, so `stop` finds it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
dir=${2:?usage: $0 start|stop DIR}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

stop() {
  local home
  if [ -f "$dir/cluster" ]; then
    home=$(cat "$dir/cluster")
    if [ -d "$home/data" ]; then pg_stop "$home/data"; fi
    if [ -d "$home" ]; then pg_remove_home "$home"; fi
  fi
  if [ -d "$dir/data" ]; then pg_stop "$dir/data"; fi  # a cluster of the layout before the temp folder
  rm -rf "$dir"
}

case "$1" in
  start)
    stop  # whatever an interrupted run left behind
    trap '[ $? -eq 0 ] || stop' EXIT  # a start that fails leaves nothing behind
    (umask 077; mkdir -p "$dir")
    home=$(pg_new_home test-pg)
    echo "$home" > "$dir/cluster"
    pg_init "$home/data" trust
    for attempt in 1 2 3; do
      port=$(free_port)
      if pg_start "$home/data" "$port" "$home/postgres.log" fsync=off synchronous_commit=off full_page_writes=off max_connections=400; then
        echo "SVX_TEST_PG_HOST=127.0.0.1"; echo "SVX_TEST_PG_PORT=$port"; echo "SVX_TEST_PG_USER=postgres"
        exit 0
      fi
    done
    echo "could not start the test PostgreSQL; log:" >&2; cat "$home/postgres.log" >&2
    exit 1 ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
