#!/usr/bin/env bash
# Install the runtime into .venv (once) and start the app on http://localhost:8501.
#
# Safety settings (see README, "Safety and limits"):
#   FEWSHOT_ADDRESS       interface to listen on (default localhost: this machine only; 0.0.0.0 shares it)
#   FEWSHOT_DATA_ROOTS    folders a typed path may point into, separated by ':' (default: the workspace)
#   FEWSHOT_MAX_UPLOAD_MB largest upload in MB (default 1024), given to Streamlit as server.maxUploadSize
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -r requirements.txt
exec .venv/bin/python -m streamlit run streamlit_app.py \
  --server.address "${FEWSHOT_ADDRESS:-localhost}" \
  --server.maxUploadSize "${FEWSHOT_MAX_UPLOAD_MB:-1024}" \
  "$@"
