#!/usr/bin/env bash
# Install the runtime into .venv (once) and start the app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "installing requirements.txt into .venv (log: .venv/pip.log)"
.venv/bin/python -m pip install -q -r requirements.txt > .venv/pip.log 2>&1 || { tail -40 .venv/pip.log; exit 1; }
exec .venv/bin/python -m streamlit run streamlit_app.py --server.address "${FEWSHOT_ADDRESS:-localhost}" "$@"
