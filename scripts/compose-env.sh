#!/usr/bin/env bash
# The first-run path of the compose stack: writes compose/.env (mode 0600) with a long random password for the
# PostgreSQL superuser and each service role, and Auth's challenge key (32 random bytes as hex). An existing file is
# kept (it holds the passwords the database volume was made with). `scripts/compose-env.sh FILE` writes FILE instead.
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-compose/.env}
if [ -e "$file" ]; then
    echo "compose-env: $file exists: kept (delete it, and the pgdata volume, to start again)"
    exit 0
fi
command -v openssl > /dev/null || { echo "compose-env: openssl is needed to make the passwords" >&2; exit 1; }
umask 077
{
    echo "# Made by scripts/compose-env.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Keep it: the database was made with these."
    for role in ADMIN AUTH KEYSTORE VAULT SHARING CLASSIFICATION; do
        echo "SVX_PG_PASSWORD_$role=$(openssl rand -hex 24)"
    done
    echo "SVX_AUTH_CHALLENGE_KEY=$(openssl rand -hex 32)"
} > "$file.tmp"
mv "$file.tmp" "$file"
echo "compose-env: wrote $file (mode 0600)"
