#!/usr/bin/env bash
# Run once by the postgres image on a new volume: the same bootstrap as the native stack
# (compose/bootstrap.sql), then each service role's password from the environment.
set -euo pipefail
# A placeholder or short password is refused before anything is made (scripts/compose-env.sh makes real ones).
for var in POSTGRES_PASSWORD SVX_PG_PASSWORD_AUTH SVX_PG_PASSWORD_KEYSTORE SVX_PG_PASSWORD_VAULT SVX_PG_PASSWORD_SHARING \
    SVX_PG_PASSWORD_CLASSIFICATION; do
  value="${!var:-}"
  if [ "${#value}" -lt 16 ] || [ "$value" = "change-me" ]; then
    echo "svx: $var is unset, a placeholder or shorter than 16 characters: run scripts/compose-env.sh" >&2
    exit 1
  fi
  case "$value" in *"'"*|*\\*) echo "svx: $var must not hold quotes or backslashes" >&2; exit 1 ;; esac
done
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d svx -f /svx/bootstrap.sql
# Through stdin, not -c: a password on a command line is visible to every process (ps, /proc).
for s in auth keystore vault sharing classification; do
  var="SVX_PG_PASSWORD_${s^^}"
  printf "ALTER ROLE svx_%s PASSWORD '%s';\n" "$s" "${!var}"
done | psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d svx
