#!/usr/bin/env bash
# The test suite on a fresh machine: set up, lint, then every test (slow ones included),
# the layering check among them (tests/unit/test_layers.py: imports point down, no cycles).
# Tests run in parallel workers (pytest-xdist; most of their time is spent waiting on git,
# dvc, ssh and rsync processes): DVC_SYNCED_TEST_WORKERS=0 runs them in one process.
# `--dist load --maxschedchunk 2`: each worker takes the next test as it frees up, so the
# long tests tests/conftest.py puts first spread over the workers instead of ending the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
workers=${DVC_SYNCED_TEST_WORKERS:-2}
parallel=()
if [ "$workers" != 0 ]; then
    parallel=(-n "$workers" --dist load --maxschedchunk 2)
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider ${parallel[@]+"${parallel[@]}"} "$@"
