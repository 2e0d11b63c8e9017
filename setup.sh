#!/usr/bin/env bash
# Builds (once) the virtual environment .venv with gtgan and its test extras; reuses it after.
# Usage: ./setup.sh            then .venv/bin/gtgan ... or .venv/bin/python -m pytest
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
stamp=.venv/.gtgan-setup-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# On x86_64 the PyPI torch wheel that torchvision imports with is the CUDA build (it runs on CPUs too).
.venv/bin/python -m pip install --quiet -e ".[test]"
rm -f .venv/.gtgan-setup-*
touch "$stamp"
echo "gtgan environment ready in .venv"
