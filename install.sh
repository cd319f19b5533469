#!/bin/sh
# Create ./.venv and install pochta into it. `sh install.sh` for running the server,
# `sh install.sh test` for the test suite (editable install plus test tools).
# A virtual environment keeps pochta away from the system Python, whose pip refuses global
# installs on Debian 12 (PEP 668).
set -eu
cd "$(dirname "$0")"

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install.sh: pochta needs Python 3.11 or newer; found $(python3 --version 2>&1)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
        # Stock Debian ships venv without ensurepip; it lives in the python3-venv package.
        rm -rf .venv
        echo "install.sh: installing python3-venv (Debian splits venv support out of python3)" >&2
        if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq python3-venv
        python3 -m venv .venv
    fi
fi

.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q .
fi
