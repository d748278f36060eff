#!/usr/bin/env bash
# One build recipe for every way svx is shipped (issue #24): `make dist` here, the compose image's Dockerfile, and the
# CI check. Builds each shipped product in turn (given several `--product`s SwiftPM builds only the last one; a plain
# `swift build` would build the test kit too, which imports Testing, a module Swift ships only as a shared library, so
# a `--static-swift-stdlib` build of it fails) and the C probe, then copies into DESTDIR:
#   the five services (svx-auth, svx-keystore, svx-vault, svx-sharing, svx-classification), svx, svx-load, svx-probe,
#   and the services' resource bundles (svx_<Service>.resources: their SQL migrations, found beside the executable).
# Then checks DESTDIR: every file there, every executable runs (`--help` of the command line tools, a service's
# refusal of an unknown argument with its usage), every migration directory non-empty.
#
# Usage: scripts/dist.sh CONFIG DESTDIR [SWIFT_BUILD_FLAGS...]   CONFIG is release or debug
#        scripts/dist.sh --check DESTDIR                         the check alone
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/opt/swift/usr/bin:$PATH
services=(auth keystore vault sharing classification)
tools=(svx svx-load)

check() {
  local dest=$1 missing=0
  for s in "${services[@]}"; do
    local bundle="$dest/svx_${s^}.resources/Migrations"
    if [ ! -x "$dest/svx-$s" ]; then echo "dist: missing executable svx-$s" >&2; missing=1; continue; fi
    if [ -z "$(ls -A "$bundle" 2>/dev/null)" ]; then echo "dist: no migrations in $bundle" >&2; missing=1; fi
    # An unknown argument: the service prints its usage and exits 2 without reading any configuration.
    local status=0 usage
    usage=$("$dest/svx-$s" --no-such-argument 2>&1) || status=$?
    if [ "$status" -ne 2 ] || [[ $usage != *"svx-$s generate-key"* ]]; then
      echo "dist: svx-$s does not run (exit $status): $usage" >&2; missing=1
    fi
  done
  for t in "${tools[@]}"; do
    if [ ! -x "$dest/$t" ] || ! "$dest/$t" --help >/dev/null 2>&1; then echo "dist: $t missing or does not run" >&2; missing=1; fi
  done
  # The probe prints its usage without an endpoint (exit 2).
  if [ ! -x "$dest/svx-probe" ] || [[ $("$dest/svx-probe" 2>&1) != *"usage: svx-probe"* ]]; then
    echo "dist: svx-probe missing or does not run" >&2; missing=1
  fi
  [ "$missing" -eq 0 ] || exit 1
  echo "dist: $dest holds ${#services[@]} services, ${tools[*]}, svx-probe and the migrations; each runs"
}

if [ "${1:-}" = --check ]; then
  check "${2:?usage: scripts/dist.sh --check DESTDIR}"
  exit 0
fi
config=${1:?usage: scripts/dist.sh release|debug DESTDIR [SWIFT_BUILD_FLAGS...]}
dest=${2:?usage: scripts/dist.sh release|debug DESTDIR [SWIFT_BUILD_FLAGS...]}
shift 2
case "$dest" in /*) ;; *) dest="$PWD/$dest";; esac  # relative to where it was run, not to the repository
case "$config" in release|debug) ;; *) echo "dist: CONFIG is release or debug, not $config" >&2; exit 2;; esac
cd "$root"
for product in "${services[@]/#/svx-}" "${tools[@]}"; do
  swift build -c "$config" --product "$product" "$@"
done
make --no-print-directory .build/svx-probe/svx-probe >/dev/null
bin=$(swift build -c "$config" "$@" --show-bin-path)
mkdir -p "$dest"
for s in "${services[@]}"; do
  cp "$bin/svx-$s" "$dest/"
  rm -rf "$dest/svx_${s^}.resources"
  cp -R "$bin/svx_${s^}.resources" "$dest/"
done
for t in "${tools[@]}"; do cp "$bin/$t" "$dest/"; done
cp .build/svx-probe/svx-probe "$dest/"
check "$dest"
