"""Benchmarks run by ``make bench`` (``python -m bench``).

Each benchmark is a module listed in :data:`bench.__main__.MODULES` with a function
``run() -> dict`` returning ``{"name": str, "rows": [ {...}, ... ], ...}``; every row is
one timed case with at least ``case`` and ``median_s``. ``__main__`` prints the rows as
a table and writes everything to ``bench-results/bench.json``. Timings are medians of
a few repetitions; the machine is shared, so no test asserts on them.
"""
