#!/usr/bin/env bash
# Installs the project WITHOUT the lock, the way a library user's resolver would (the newest releases
# setup.cfg's bounds admit), into a throw-away venv, and runs the test suite there.
#
#   bash tools/check-latest.sh [VENV_DIR] [pytest args...]
#
# Use it before refreshing the lock (tools/update-lock.sh): what fails here is what a new release broke;
# fix the code or add an upper bound to setup.cfg. It uses uv's resolver (pip's backtracks for a long
# time on this dependency set) and takes about as long as the full suite plus a fresh install.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-/tmp/emotionlayer-latest}"
shift || true
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q uv
"$venv/bin/uv" pip install --python "$venv/bin/python" -e ".[all,test]"
"$venv/bin/uv" pip freeze --python "$venv/bin/python" > "$venv/freeze.txt"
echo "installed: $(wc -l < "$venv/freeze.txt") packages (list: $venv/freeze.txt)"
"$venv/bin/python" -m pytest -q "$@"
