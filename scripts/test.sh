#!/usr/bin/env bash
# Install everything the tests need into .venv (and Debian's chromium for the browser test), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "installing requirements-dev.txt into .venv (log: .venv/pip.log)"
.venv/bin/python -m pip install -q -r requirements-dev.txt > .venv/pip.log 2>&1 || { tail -40 .venv/pip.log; exit 1; }
.venv/bin/python -m pip install -q -r requirements-scale.txt >> .venv/pip.log 2>&1 || { tail -40 .venv/pip.log; exit 1; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
