#!/usr/bin/env bash
# make compose-test (issue #24): the compose stack as a Podman user runs it, checked end to end.
#   1. podman, podman-compose, buildah and debootstrap (installed with apt-get when missing), and runc allowed to run
#      containers here (/etc/containers/containers.conf: default_ulimits = []).
#   2. The base images: the official ones if they can be pulled, else local stand-ins (scripts/container-images.sh).
#   3. A throwaway env file (scripts/compose-env.sh) and project `svx-compose-test` on ports 17101-17105, so neither a
#      local `make up` stack nor a real compose/.env is touched; the images built, `podman-compose up -d`, and the six
#      health checks waited for.
#   4. The README's flow with this checkout's `svx` against the published ports over CURVE (the public keys read from
#      the svx-keys volume): sign-up, an item with a value, read back, a classification, logout.
#   5. No plaintext in the database (pg_dump inside the postgres container, searched for the flow's values, the
#      passphrase and the Secret Key), then `down -v` (also on failure).
# Too long for CI (a release build in a container); run before calling the compose work done.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
project=svx-compose-test
compose_file=compose/docker-compose.yml
work=$(mktemp -d /var/tmp/svx-compose-test.XXXXXX)
log() { printf '%s compose-test: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# --- 1. The engine -------------------------------------------------------------------------------------------------
missing=()
for tool in podman podman-compose buildah debootstrap runc; do command -v "$tool" > /dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
    apt_get update -qq && DEBIAN_FRONTEND=noninteractive apt_get install -y -qq podman podman-compose buildah debootstrap runc > /dev/null
fi
# Two settings this kind of machine needs (measured: crun refuses its hybrid cgroups, "cgroups in hybrid mode not
# supported"; runc cannot set the default rlimits): runc, and no default ulimits. Only added when absent.
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
set_setting() {  # set_setting SECTION LINE: LINE under [SECTION] (a table TOML allows once)
    log "setting [$1] $2 in $conf"
    if grep -qs "^\[$1\]" "$conf"; then
        sed -i "/^\[$1\]/a $2" "$conf"
    else
        printf '\n[%s]\n%s\n' "$1" "$2" >> "$conf"
    fi
}
grep -qs '^default_ulimits *= *\[\]' "$conf" || set_setting containers 'default_ulimits = []'
grep -qs '^runtime *= *"runc"' "$conf" || set_setting engine 'runtime = "runc"'

podman run --rm localhost/svx-debian:bookworm true > /dev/null 2>&1 \
    || podman run --rm docker.io/library/debian:bookworm-slim true > /dev/null 2>&1 \
    || log "(no base image yet to try a container with: made below)"
log "$(podman --version), $(podman-compose version 2>/dev/null | grep -i 'podman-compose' | head -1)"

# --- 2. Base images ------------------------------------------------------------------------------------------------
if timeout 30 podman pull -q docker.io/library/debian:bookworm-slim > /dev/null 2>&1 \
    && timeout 120 podman pull -q docker.io/library/swift:6.3-bookworm > /dev/null 2>&1 \
    && timeout 60 podman pull -q docker.io/library/postgres:15-bookworm > /dev/null 2>&1; then
    log "official base images pulled"
else
    log "official images cannot be pulled here: local stand-ins"
    while IFS='=' read -r name value; do export "$name=$value"; done < <(scripts/container-images.sh | grep '^SVX_')
fi
export SVX_IMAGE=localhost/svx:compose-test
log "images: build ${SVX_BUILD_IMAGE:-swift:6.3-bookworm}, runtime ${SVX_RUNTIME_IMAGE:-debian:bookworm-slim}, postgres ${SVX_POSTGRES_IMAGE:-postgres:15-bookworm}"

# --- 3. Up ---------------------------------------------------------------------------------------------------------
scripts/compose-env.sh "$work/env" > /dev/null
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
export SVX_AUTH_PORT=17101 SVX_KEYSTORE_PORT=17102 SVX_VAULT_PORT=17103 SVX_SHARING_PORT=17104 SVX_CLASSIFICATION_PORT=17105
compose() { podman-compose -p "$project" -f "$compose_file" "$@"; }
cleanup() {
    status=$?
    if [ "$status" != 0 ]; then
        log "logs of the failed run:"
        for c in $(podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}'); do
            echo "--- $c"; podman logs --tail 15 "$c" 2>&1 | cut -c1-300
        done
    fi
    log "down -v"
    compose down -v > "$work/down.log" 2>&1 || true
    podman volume rm -f "${project}_pgdata" "${project}_svx-keys" > /dev/null 2>&1 || true
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
compose down -v > /dev/null 2>&1 || true

started=$(date +%s)
log "building the svx image (scripts/dist.sh release in the build image; minutes)"
# podman-compose 1.0.3 exits 0 when a build fails: the image's presence says.
compose build > "$work/build.log" 2>&1 || true
podman image exists "$SVX_IMAGE" || { grep -v '^\[' "$work/build.log" | tail -30; fail "the image did not build"; }
log "image built in $(( $(date +%s) - started )) s"
# The image holds what `make dist` makes: every executable and the migrations.
for binary in svx-auth svx-keystore svx-vault svx-sharing svx-classification svx svx-load svx-probe; do
    podman run --rm --entrypoint /bin/sh "$SVX_IMAGE" -c "test -x /usr/local/bin/$binary" || fail "$binary is not in the image"
done
log "up -d"
compose up -d > "$work/up.log" 2>&1 || { tail -40 "$work/up.log"; fail "podman-compose up failed"; }

containers=(postgres svx-auth svx-keystore svx-vault svx-sharing svx-classification)
name_of() { podman ps -a --filter "label=io.podman.compose.project=$project" --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1; }
deadline=$(( $(date +%s) + 240 ))
for service in "${containers[@]}"; do
    while true; do
        name=$(name_of "$service")
        if [ -n "$name" ] && podman healthcheck run "$name" > /dev/null 2>&1; then break; fi
        [ "$(date +%s)" -lt "$deadline" ] || fail "$service is not healthy after 240 s"
        sleep 2
    done
    log "$service healthy ($name)"
done

# --- 4. The README flow --------------------------------------------------------------------------------------------
svx=${SVX_BIN:-$root/.build/release/svx}
if [ ! -x "$svx" ]; then
    log "building svx (release)"
    swift build -c release --product svx > "$work/svx-build.log" 2>&1 || { tail -20 "$work/svx-build.log"; fail "svx did not build"; }
fi
mkdir -m 700 "$work/keys" "$work/home"
auth_container=$(name_of svx-auth)
for service in auth keystore vault sharing classification; do
    podman exec "$auth_container" cat "/keys/$service.pub" > "$work/keys/$service.pub"
done
export SVX_KEYS_DIR=$work/keys SVX_HOME=$work/home
export SVX_AUTH_ENDPOINT=tcp://127.0.0.1:17101 SVX_KEYSTORE_ENDPOINT=tcp://127.0.0.1:17102 \
    SVX_VAULT_ENDPOINT=tcp://127.0.0.1:17103 SVX_SHARING_ENDPOINT=tcp://127.0.0.1:17104 \
    SVX_CLASSIFICATION_ENDPOINT=tcp://127.0.0.1:17105
passphrase="compose passphrase $(openssl rand -hex 6)"
marker_name="Ada Compose $(openssl rand -hex 4)"
marker_number="PC$(openssl rand -hex 5)"
export SVX_PASSPHRASE=$passphrase
run() { log "svx $*"; "$svx" "$@"; }

signup=$(run signup --json)
secret_key=$(printf '%s' "$signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')
username=$(printf '%s' "$signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])')
export SVX_SECRET_KEY=$secret_key
run login > /dev/null
item=$(run items create --template passport --set "full_name=$marker_name" --set "passport_number=$marker_number" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["item_id"])')
read_back=$(run items get "$item")
grep -q "$marker_number" <<< "$read_back" || fail "the item's value did not come back: $read_back"
grep -q "$marker_name" <<< "$read_back" || fail "the item's name did not come back: $read_back"
run nodes create tag Compose > /dev/null
run classify "$item" tag:compose > /dev/null
listed=$(run items list --node tag:compose)
grep -q "$item" <<< "$listed" || fail "the classified item is not listed under tag:compose: $listed"
run logout > /dev/null
log "README flow done: user $username, item $item read back and classified"

# --- 5. No plaintext -----------------------------------------------------------------------------------------------
postgres_container=$(name_of postgres)
podman exec "$postgres_container" pg_dump -U postgres -d svx > "$work/dump.sql"
[ -s "$work/dump.sql" ] || fail "pg_dump wrote nothing"
grep -q "$item" "$work/dump.sql" || fail "the dump does not hold the item at all: the check would prove nothing"
for needle in "$marker_name" "$marker_number" "$passphrase" "$secret_key" "$(printf '%s' "$secret_key" | tr -d '-')"; do
    if grep -qiF -- "$needle" "$work/dump.sql"; then fail "the database holds a plaintext the client encrypted: $needle"; fi
done
log "no plaintext in the database ($(wc -c < "$work/dump.sql") bytes of dump searched)"
log "PASSED in $(( $(date +%s) - started )) s"
