"""Issue #4 benchmarks: see run.py."""
