"""glasscloud benchmarks (issue 3). Not tests: they print tables and write bench/results/*.json.

One command runs everything (about 30 minutes on the 2-core machine):

    .venv/bin/python -m bench.run all --rounds 2

See docs/performance.md for the method, the targets and the results, and `bench/run.py` for
the single commands (`saturate`, `mix`, `sweep`, `idle`, `slow`, `light`).

Cluster mode (issue 16; needs `redis-server`): `bench/cluster.py`, one case per command,
results in bench/results/cluster-<case>.json and docs/performance.md "Cluster":

    .venv/bin/python -m bench.cluster delivery --rounds 2  # CPU/delivery, cluster vs single
    .venv/bin/python -m bench.cluster failover     # kill -9 -> the App's display back
    .venv/bin/python -m bench.cluster storm --profile 15   # 2,000 users x 2 Apps move A -> B
"""
