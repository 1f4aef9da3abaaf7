#!/usr/bin/env bash
# Install what the tests need into .venv (only when the requirements changed since the last install; on a fresh
# clone that is everything) and Debian's chromium for the browser tests, then run ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
# shellcheck source=scripts/requirements.sh
source scripts/requirements.sh
ensure_requirements requirements-dev.txt
ensure_requirements requirements-scale.txt
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
