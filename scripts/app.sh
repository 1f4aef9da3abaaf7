#!/usr/bin/env bash
# Start the app; the last line printed is the address to open. Installs into .venv only when the requirements
# changed since the last install (see scripts/requirements.sh), so a second start takes a few seconds.
#
# Safety settings (see README, "Safety and limits"):
#   FEWSHOT_ADDRESS       interface to listen on (default localhost: this machine only; 0.0.0.0 shares it)
#   FEWSHOT_PORT          port (default 8501)
#   FEWSHOT_DATA_ROOTS    folders a typed path may point into, separated by ':' (default: the workspace)
#   FEWSHOT_MAX_UPLOAD_MB largest upload in MB (default 1024), given to Streamlit as server.maxUploadSize
# Extra arguments go to `streamlit run` (e.g. --server.port 8600).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/requirements.sh
source scripts/requirements.sh
ensure_requirements requirements.txt

ADDRESS="${FEWSHOT_ADDRESS:-localhost}"
PORT="${FEWSHOT_PORT:-8501}"
for ((i = 1; i <= $#; i++)); do  # a --server.port given as an argument wins
  arg="${!i}"
  case "$arg" in
    --server.port=*) PORT="${arg#*=}" ;;
    --server.port) j=$((i + 1)); PORT="${!j:-$PORT}" ;;
  esac
done
SHOWN="$ADDRESS"
case "$ADDRESS" in 0.0.0.0|::) SHOWN="$(hostname -f 2>/dev/null || hostname)" ;; esac

HEALTH_HOST="$ADDRESS"
case "$ADDRESS" in 0.0.0.0|::) HEALTH_HOST=127.0.0.1 ;; esac
# A port already answering is another server: its health check would pass for this one (a newcomer's second
# app.sh printed "running" for the first app, then Streamlit's "Port 8501 is not available").
if .venv/bin/python - "$HEALTH_HOST" "$PORT" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
then
  echo "Port $PORT is already in use (another app, or an earlier app.sh still running): stop it, or choose" \
       "another port with FEWSHOT_PORT=8502 bash scripts/app.sh" >&2
  exit 1
fi

# Streamlit's own banner is hidden: the address is printed once the server answers, as the last line.
.venv/bin/python scripts/serve.py run streamlit_app.py \
  --server.address "${FEWSHOT_ADDRESS:-localhost}" \
  --server.port "$PORT" \
  --server.headless true \
  --server.fileWatcherType "${FEWSHOT_FILE_WATCHER:-none}" \
  --server.maxUploadSize "${FEWSHOT_MAX_UPLOAD_MB:-1024}" \
  --logger.hideWelcomeMessage true \
  --client.disableDataExport true \
  "$@" &
SERVER=$!
trap 'kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER"' INT TERM
# One small poller (not a process per try): exits 0 once the server answers, 1 if the server process ended.
if .venv/bin/python - "$HEALTH_HOST" "$PORT" "$SERVER" <<'PY'
import os, sys, time, urllib.request
host, port, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
while True:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=1) as response:
            if response.read().strip() == b"ok":
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        if os.path.isdir("/proc"):  # a server that exited stays a zombie until the shell waits for it
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rpartition(")")[2].split()[0] == "Z":
                    sys.exit(1)
    except OSError:
        sys.exit(1)
    time.sleep(0.05)
PY
then
  echo "Fewshot is running. Open http://$SHOWN:$PORT"
fi
wait "$SERVER"
