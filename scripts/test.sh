#!/usr/bin/env bash
# The test suite on a fresh machine: set up, lint, then every test (slow ones included),
# the layering check among them (tests/unit/test_layers.py: imports point down, no cycles).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
