#!/usr/bin/env bash
# Sourced by app.sh and test.sh: create .venv once, and pip-install a requirements file only when it (or a file
# it includes with -r, or any other requirements*.txt) changed since the last install into this venv.
#
#   ensure_requirements requirements.txt
#
# The stamp .venv/.fewshot-stamp-<file> holds the sha256 of every requirements*.txt in the repo root and of every
# file reached through -r / --requirement / -c lines. pip's output goes to .venv/pip.log and is shown only when
# it fails. FEWSHOT_FORCE_INSTALL=1 installs even when the stamp matches.

PYTHON="${PYTHON:-python3.11}"

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
  fi
}

# Every file a requirements file pulls in (itself first), following -r/-c includes relative to its folder.
_requirement_files() {
  local file="$1" dir line include
  file="${file#./}"
  [ -f "$file" ] || return 0
  echo "$file"
  dir="$(dirname "$file")"
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    case "$line" in
      -r\ *|-c\ *) include="${line#-? }" ;;
      --requirement\ *|--constraint\ *) include="${line#--* }" ;;
      --requirement=*|--constraint=*) include="${line#*=}" ;;
      *) continue ;;
    esac
    include="$(echo "$include" | xargs)"
    include="$dir/$include"
    [ "$include" != "$dir/" ] && _requirement_files "${include#./}"
  done < "$file"
}

requirements_hash() {
  { _requirement_files "$1"; ls requirements*.txt 2>/dev/null; } | sort -u | while IFS= read -r f; do
    [ -f "$f" ] && sha256sum "$f"
  done | sha256sum | cut -d' ' -f1
}

ensure_requirements() {
  local file="$1" stamp
  ensure_venv
  stamp=".venv/.fewshot-stamp-$(basename "$file")"
  if [ "${FEWSHOT_FORCE_INSTALL:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(requirements_hash "$file")" ]; then
    return 0
  fi
  echo "installing $file into .venv (requirements changed since the last install; a few minutes on a fresh machine, quietly; log: .venv/pip.log)"
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check -r "$file" > .venv/pip.log 2>&1; then
    echo "pip install -r $file failed; the end of .venv/pip.log:" >&2
    tail -40 .venv/pip.log >&2
    return 1
  fi
  # The file and everything it includes are now installed: stamp each, so app.sh after test.sh installs nothing.
  _requirement_files "$file" | while IFS= read -r f; do
    requirements_hash "$f" > ".venv/.fewshot-stamp-$(basename "$f")"
  done
}
