"""Test harness shared by the test suite, the benchmarks and `dvc-synced demo`."""
