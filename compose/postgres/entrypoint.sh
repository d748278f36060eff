#!/usr/bin/env bash
# The official postgres image's contract, as far as svx uses it: a new data directory is initialised with
# POSTGRES_USER (default postgres) whose password is POSTGRES_PASSWORD (required), database POSTGRES_DB, password
# (scram-sha-256) logins from any address, and every /docker-entrypoint-initdb.d/*.sh (run if executable, else
# sourced, with the same environment) and *.sql run once against it while the server listens on its socket only. Then the server runs in
# the foreground as PID 1's child, listening on every address of the container.
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "svx-postgres: POSTGRES_PASSWORD is required to initialise a new database" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 > /dev/null
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    # Socket only while the init scripts run: nothing reaches it from the network half-initialised.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start > /dev/null
    if [ "$POSTGRES_DB" != "postgres" ]; then
        psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -q \
            -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sh)
                echo "svx-postgres: running $file"
                if [ -x "$file" ]; then "$file"; else . "$file"; fi
                ;;
            *.sql) echo "svx-postgres: running $file"; psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$file" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null
    echo "svx-postgres: initialised $PGDATA"
fi

if [ "${1:-postgres}" = "postgres" ]; then
    shift || true
    exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
