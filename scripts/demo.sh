#!/usr/bin/env bash
# The main job on a fresh machine: set up, then run the two-teammates demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/dvc-synced demo "$@"
