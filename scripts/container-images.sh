#!/usr/bin/env bash
# Local stand-ins for the official images compose/ builds from, for machines that cannot pull them (issue #24):
#   localhost/svx-debian:bookworm      Debian bookworm minbase from debootstrap (for debian:bookworm-slim)
#   localhost/svx-swift-build:local    that base with the build packages, this machine's Swift toolchain (/opt/swift)
#                                      and its Swift package mirror (/opt/swift-packages) (for swift:6.3-bookworm)
#   localhost/svx-postgres:15          Debian's postgresql-15 with the official image's init contract
#                                      (compose/postgres; for postgres:15-bookworm)
# An image that exists already is kept (--rebuild makes them again). Needs podman, buildah and debootstrap, and
# Debian's package archive (SVX_DEBIAN_MIRROR, default the one apt uses here). Prints the variables that point
# compose at them.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/svx-debian:bookworm
BUILD=localhost/svx-swift-build:local
POSTGRES=localhost/svx-postgres:15
MIRROR=${SVX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SWIFT_TOOLCHAIN=${SVX_SWIFT_TOOLCHAIN:-/opt/swift}
SWIFT_PACKAGES=${SVX_SWIFT_PACKAGES:-/opt/swift-packages}

rebuild=0
[ "${1:-}" = "--rebuild" ] && rebuild=1

for tool in podman buildah debootstrap; do
    command -v "$tool" > /dev/null || { echo "container-images: $tool is missing (apt-get install podman buildah debootstrap)" >&2; exit 1; }
done

wanted() {  # wanted IMAGE: true when it must be made
    if [ "$rebuild" = 1 ]; then podman image rm -f "$1" > /dev/null 2>&1 || true; return 0; fi
    ! podman image exists "$1"
}

if wanted "$BASE"; then
    echo "container-images: $BASE from debootstrap (minbase bookworm, $MIRROR)"
    root=$(mktemp -d /var/tmp/svx-debootstrap.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" > "$root.log" 2>&1 \
        || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
    rm -f "$root.log"
    # As the official image: the updates and security suites too, and no package lists kept.
    cat > "$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" > /dev/null
    rm -rf "$root"
    trap - EXIT
fi

if wanted "$BUILD"; then
    echo "container-images: $BUILD ($SWIFT_TOOLCHAIN, $SWIFT_PACKAGES)"
    [ -x "$SWIFT_TOOLCHAIN/usr/bin/swift" ] || { echo "container-images: no Swift toolchain at $SWIFT_TOOLCHAIN" >&2; exit 1; }
    container=$(buildah from --pull-never "$BASE")
    trap 'buildah rm "$container" > /dev/null 2>&1 || true' EXIT
    # What Swift's own bookworm image installs for the toolchain, and what svx's C targets link against.
    buildah run "$container" -- sh -c 'apt-get update > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends binutils git gnupg2 libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev \
        libpython3-dev libsqlite3-0 libstdc++-12-dev libxml2-dev libncurses-dev libz3-dev pkg-config tzdata unzip \
        zlib1g-dev ca-certificates make libzmq3-dev libssl-dev libpq-dev protobuf-compiler protobuf-c-compiler \
        libprotobuf-c-dev > /dev/null && rm -rf /var/lib/apt/lists/*'
    buildah copy --quiet "$container" "$SWIFT_TOOLCHAIN" /opt/swift > /dev/null
    buildah copy --quiet "$container" "$SWIFT_PACKAGES" /opt/swift-packages > /dev/null
    # SwiftPM asks git for github.com addresses: the mirror answers them, as on this machine.
    buildah run "$container" -- git config --system url./opt/swift-packages/.insteadOf https://github.com/
    buildah config --env PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
    buildah commit --quiet "$container" "$BUILD" > /dev/null
    buildah rm "$container" > /dev/null
    trap - EXIT
fi

if wanted "$POSTGRES"; then
    echo "container-images: $POSTGRES (Debian's postgresql-15, compose/postgres)"
    podman build --quiet --pull=never --build-arg BASE_IMAGE="$BASE" -t "$POSTGRES" compose/postgres > /dev/null
fi

echo "SVX_BUILD_IMAGE=$BUILD"
echo "SVX_RUNTIME_IMAGE=$BASE"
echo "SVX_POSTGRES_IMAGE=$POSTGRES"
