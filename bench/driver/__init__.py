"""The parts of the benchmark driver, bench/bench.py (its docstring lists them)."""
