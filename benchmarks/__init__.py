"""netspec benchmarks: run `python -m benchmarks` (see benchmarks/__main__.py)."""
