#!/usr/bin/env bash
# Run once by the postgres image on a new volume: the same bootstrap as the native stack
# (compose/bootstrap.sql), then each service role's password from the environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d svx -f /svx/bootstrap.sql
# Through stdin, not -c: a password on a command line is visible to every process (ps, /proc).
for s in auth keystore vault sharing classification; do
  var="SVX_PG_PASSWORD_${s^^}"
  printf "ALTER ROLE svx_%s PASSWORD '%s';\n" "$s" "${!var}"
done | psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d svx
