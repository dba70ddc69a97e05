#!/usr/bin/env bash
# Set up a development machine (Debian/Ubuntu): system packages, the project venv, the package with its extras.
#
# Idempotent: installs only what is missing; re-installs the Python package only when pyproject.toml changed.
#   system: pcscd, vsmartcard-vpcd (the virtual reader driver), and what pyscard needs to build from source
#           (libpcsclite-dev, swig, gcc, python3-dev), python3-venv;          (docs/pcsc.md; pcsc-vpcd.md §3.3)
#           postgresql (the host's tests run on a throwaway cluster, scripts/pg_throwaway.sh; docs/host.md).
#   venv:   .venv with  pip install -e '.[dev,pcsc,daemon,host]'
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(pcscd vsmartcard-vpcd libpcsclite-dev swig gcc python3-dev python3-venv postgresql)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi

stamp=.venv/.healthcard-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c 'import apdu, smartcard, pytest, psycopg' 2>/dev/null; then
  echo "setup: installing the project into .venv (extras dev, pcsc, daemon, host)"
  .venv/bin/python -m pip install -q -e '.[dev,pcsc,daemon,host]'
  echo "$want" > "$stamp"
fi
echo "setup: ok"
