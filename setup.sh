#!/usr/bin/env bash
# Builds (once) the virtual environment .venv with gtgan, its test extras and the serve extra
# (gtgan serve); reuses it after.
# Usage: ./setup.sh [--with-browser]   then .venv/bin/gtgan ... or .venv/bin/python -m pytest
#   --with-browser: also install Debian's chromium and chromium-driver when missing (apt-get;
#   root or sudo), which the browser test of `gtgan serve` drives; CI (.ci/run) asks for it.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--with-browser" ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
    echo "installed $(chromium --version 2>/dev/null) and its chromedriver"
fi
PY=${PYTHON:-python3}
stamp=.venv/.gtgan-setup-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# On x86_64 the PyPI torch wheel that torchvision imports with is the CUDA build (it runs on CPUs too).
.venv/bin/python -m pip install --quiet -e ".[test,serve]"
rm -f .venv/.gtgan-setup-*
touch "$stamp"
echo "gtgan environment ready in .venv"
