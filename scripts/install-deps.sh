#!/usr/bin/env bash
# Installs the Debian packages svx builds and runs with, only those that are missing.
# Swift itself is expected at /opt/swift (or on PATH).
set -euo pipefail
packages=(libzmq3-dev libssl-dev libpq-dev postgresql protobuf-compiler libprotobuf-c-dev protobuf-c-compiler pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian postgresql package starts a system cluster on 5432; svx runs its own clusters and needs none.
fi
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || { echo "swift not found (expected /opt/swift)" >&2; exit 1; }
