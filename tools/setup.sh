#!/usr/bin/env bash
# Sets up everything fxlearn needs on a Debian/Ubuntu machine: system packages (apt) and a
# Python venv in .venv with the package installed in editable mode. Idempotent and quick
# when nothing changed. Usage: bash tools/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: cross compilers, emulators, clang (libFuzzer), socat.
APT_PKGS="gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-system-misc
gcc-riscv64-unknown-elf gcc-xtensa-lx106 clang libclang-rt-14-dev socat libffi-dev pkg-config python3-venv"
missing=""
for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "fxlearn setup: installing system packages:$missing"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Python venv with the package (editable) and the test tools.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.fxlearn-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
echo "fxlearn setup: ready (.venv/bin/fxlearn)"
