"""glasscloud benchmarks (issue 3). Not tests: they print tables and write bench/results/*.json.

One command runs everything (about 30 minutes on the 2-core machine):

    .venv/bin/python -m bench.run all --rounds 2

See docs/performance.md for the method, the targets and the results, and `bench/run.py` for
the single commands (`saturate`, `mix`, `sweep`, `idle`, `slow`).
"""
