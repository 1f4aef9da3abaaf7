#!/usr/bin/env bash
# Install the runtime into .venv (once) and start the app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -r requirements.txt
exec .venv/bin/python -m streamlit run streamlit_app.py --server.address "${FEWSHOT_ADDRESS:-localhost}" "$@"
