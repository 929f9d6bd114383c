#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (fixtures are generated with
# the ffmpeg CLI at test time; no timing is asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
