#!/usr/bin/env bash
# Installs the Debian packages svx builds and runs with, only those that are missing.
# Swift itself is expected at /opt/swift (or on PATH). The Python example client's packages (pinned in
# examples/python/requirements.txt) go into a venv of their own, .svx/python, with pip (PyPI).
set -euo pipefail
packages=(libzmq3-dev libssl-dev libpq-dev postgresql protobuf-compiler libprotobuf-c-dev protobuf-c-compiler pkg-config
  python3 python3-venv)
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

# The Python client (examples/python): its pinned packages in .svx/python, installed again only when
# requirements.txt changes.
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.svx/python"
requirements="$root/examples/python/requirements.txt"
wanted=$( { python3 -V; cat "$requirements"; } | sha256sum | cut -d' ' -f1)  # again for another Python too
if [ ! -x "$venv/bin/python3" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
  echo "installing the Python example's packages into .svx/python"
  # Not fatal: without PyPI the services still build and run; only PythonClientTests fail, naming this venv.
  if rm -rf "$venv" && python3 -m venv "$venv" \
    && "$venv/bin/python3" -m pip install -q --disable-pip-version-check -r "$requirements"; then
    echo "$wanted" >"$venv/.requirements.sha256"
  else
    echo "warning: the Python example's packages could not be installed into .svx/python (is PyPI reachable?)" >&2
  fi
fi
