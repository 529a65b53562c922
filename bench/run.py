"""Benchmark runner: starts each server pinned to core 0 (a fresh process per measurement),
runs `bench.loadgen` pinned to core 1, repeats for `--rounds`, and reports medians with the
ratio glasscloud / bare aiohttp relay measured in the same run. Writes
bench/results/<suite>.json; `sweep` also draws docs/performance-sweep.png.

    .venv/bin/python -m bench.run all --rounds 3   # everything below, ~35 min on 2 cores
    .venv/bin/python -m bench.run saturate     # deliveries/s and server CPU us/delivery
    .venv/bin/python -m bench.run mix          # 1,000 sessions x 2 Apps, latency + losses
    .venv/bin/python -m bench.run sweep        # latency/CPU against N (+ the PNG)
    .venv/bin/python -m bench.run idle         # RSS per idle session (1,000-4,000 x 2 Apps)
    .venv/bin/python -m bench.run slow         # one slow App per hot session, vs a control
    .venv/bin/python -m bench.run light        # 200 users x 1 App, light load: glasscloud vs
                                               # the minimal relay, p50/p99 and the ratio

`--with-main` adds glasscloud as it is on the git ref `--main-ref` (default `main`; use the
branch point for a clean before/after), exported with `git archive` into a temp dir, as the
target `main` to saturate, mix and light: an A/B of the working tree in the same run, cases
interleaved. Several refs, comma-separated (`--main-ref main,ed5dfd2`), become the targets
`main`, `main2`, ... (the JSON's `main_refs` says which is which).
`--variants 'a;b'` adds glasscloud with bench.serve's measurement variants
(results then go to `<suite>-hunt.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.report import print_suite

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
_port = [8400 + os.getpid() % 500]
_code: dict[str, Path] = {}  # target kind -> source tree it runs from (default: this one)


def export_ref(ref: str) -> Path:
    """`git archive` of `ref` into a temp dir: glasscloud as it was, for an A/B."""
    out = Path(tempfile.mkdtemp(prefix=f"gcbench-{ref.replace('/', '_')}-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def _next_port() -> int:
    _port[0] += 1
    return _port[0]


class Target:
    """One server process (glasscloud via bench.serve, or the bare relay) on core 0."""

    def __init__(
        self,
        kind: str,
        app_queue: int = 1024,
        unlimited: bool = False,
        serve_args: tuple[str, ...] = (),
        database: str | None = None,
        cpu: int = 0,
        secret: str | None = None,
    ) -> None:
        # "glasscloud+write-now,no-limits": glasscloud with bench.serve variants
        kind, _, variant = kind.partition("+")
        self.kind = kind
        code = _code.get(kind, ROOT)
        env = {**os.environ, "PYTHONPATH": f"{code / 'src'}:{code}"}
        # The load generator is this tree's, but it opens the target's database with the
        # target's own glasscloud (its schema, its token format).
        self.loadgen_env = {**os.environ, "PYTHONPATH": f"{ROOT}:{code / 'src'}"}
        self.port = _next_port()
        self.secret = secret or secrets.token_hex(32)
        self.dir = tempfile.mkdtemp(prefix="gcbench-")
        # bench/cluster.py: nodes of one cluster share one database and one secret
        self.database = database or f"sqlite:///{self.dir}/bench.db"
        self.metrics = f"{self.dir}/metrics.json"
        if kind == "glasscloud" or kind.startswith("main"):
            cmd = [
                PY,
                "-m",
                "bench.serve",
                "--port",
                str(self.port),
                "--database",
                self.database,
                "--secret",
                self.secret,
                "--app-queue",
                str(app_queue),
                "--metrics-out",
                self.metrics,
                "--cpu",
                str(cpu),
                *serve_args,
            ]
            if "--redis" in serve_args:  # a cluster node: webhooks name its own URL
                cmd += ["--public-url", f"http://127.0.0.1:{self.port}"]
            if unlimited:
                cmd.append("--no-rate-limit")
            if variant:
                cmd += ["--variant", variant]
        else:
            relay = "bench.minimal_relay" if kind == "minimal" else "bench.baseline_relay"
            cmd = [PY, "-m", relay, "--port", str(self.port), "--cpu", "0"]
            cmd += ["--stalls-out", self.metrics + ".stalls.json"]
        self.log = open(f"{self.dir}/server.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            cwd=code,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "READY" not in line:
            raise RuntimeError(f"{kind} did not start; see {self.dir}/server.log")

    def loadgen(self, mode: str, *extra: str, timeout: float = 900) -> dict[str, Any]:
        cmd = [
            PY,
            "-m",
            "bench.loadgen",
            mode,
            "--target",
            "glasscloud" if self.kind.startswith("main") else self.kind,
            "--port",
            str(self.port),
            "--pid",
            str(self.proc.pid),
            "--database",
            self.database,
            "--secret",
            self.secret,
            "--metrics-file",
            self.metrics,
            "--cpu",
            "1",
            *extra,
        ]
        done = subprocess.run(
            cmd, cwd=ROOT, env=self.loadgen_env, capture_output=True, text=True, timeout=timeout
        )
        lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if not lines:
            return {"error": (done.stderr or done.stdout)[-800:]}
        return json.loads(lines[-1][7:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def wait_quiet(limit_pct: float = 25.0, max_wait: float = 30.0) -> float:
    """Wait (bounded) until the rest of the machine uses under `limit_pct` of its CPUs
    (other people's test runs share these 2 cores); returns the last reading."""
    deadline = time.monotonic() + max_wait
    busy = psutil.cpu_percent(interval=1.0)
    while busy > limit_pct and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=1.0)
    return busy


def measure(kind: str, mode: str, *extra: str, app_queue: int = 1024) -> dict[str, Any]:
    other = wait_quiet()
    target = Target(kind, app_queue, unlimited=mode == "saturate")
    try:
        time.sleep(0.3)
        result = target.loadgen(mode, *extra)
        result["machine_busy_before_pct"] = other
        result["loadavg_after"] = os.getloadavg()[0]
        return result
    finally:
        target.stop()
        time.sleep(0.5)


def _brief(res: dict[str, Any]) -> str:
    keys = (
        "deliveries_per_s",
        "server_cpu_us_per_delivery",
        "server_writes_per_delivery",
        "server_cpu_pct",
        "kb_per_session",
        "error",
    )
    parts = [
        f"{k}={res[k]:.1f}" if isinstance(res.get(k), float) else f"{k}={res.get(k)}"
        for k in keys
        if k in res
    ]
    if "lat_glasses_to_app" in res:
        parts.append(f"p99={res['lat_glasses_to_app']['p99_ms']}")
    if "lost" in res:
        parts.append(f"lost={res['lost']}")
    return " ".join(parts)


def run_cases(
    name: str, cases: list[tuple[str, str, str, list[str]]], rounds: int, app_queue: int = 1024
) -> dict[str, Any]:
    """cases: (label, target kind, loadgen mode, loadgen args); rounds interleave the cases."""
    out: dict[str, Any] = {
        "suite": name,
        "rounds": rounds,
        "started": time.time(),
        "machine": {"cpus": os.cpu_count()},
        "main_refs": _refs,
        "runs": [],
    }
    for rnd in range(rounds):
        for label, kind, mode, extra in cases:
            res = measure(kind, mode, *extra, app_queue=app_queue)
            out["runs"].append({"case": label, "target": kind, "round": rnd, **res})
            print(f"[{name} r{rnd}] {label:28s} {_brief(res)}", flush=True)
    # A/Bs do not replace the suite's own results: -hunt with measurement variants, -ab
    # against another git ref.
    if _variants and not name.endswith("-hunt"):
        name += "-hunt"
    elif "main" in _code:
        name += "-ab"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1))
    return out


_variants: list[str] = []  # extra glasscloud targets: "glasscloud+<bench.serve variant>"
_refs: dict[str, str] = {}  # target kind (main, main2, ...) -> git ref


def _targets(*kinds: str) -> tuple[str, ...]:
    extra = [f"glasscloud+{v}" for v in _variants]
    return (*kinds, *extra, *(k for k in _code if k.startswith("main")))


def suite_saturate(rounds: int) -> dict[str, Any]:
    common = ["--sessions", "64", "--k", "2", "--window", "16", "--secs", "4", "--warm", "1"]
    cases = [
        (f"{kind}:{t}", t, "saturate", ["--kind", kind, *common])
        for kind in ("audio", "event")
        for t in _targets("baseline", "glasscloud")
    ]
    return run_cases("saturate", cases, rounds)


def suite_mix(rounds: int, sessions: int = 1000) -> dict[str, Any]:
    common = ["--sessions", str(sessions), "--k", "2", "--secs", "10", "--warm", "2"]
    base = () if _variants and "main" in _code else ("baseline",)  # an A/B of glasscloud only
    cases = [(f"mix{sessions}:{t}", t, "mix", common) for t in _targets(*base, "glasscloud")]
    return run_cases("mix", cases, rounds)


# 200 users, one App each, per user 5 events (button_press -> data_stream) and 10 audio
# frames per second: light enough that neither server is near its core's limit, so the
# latency is the path itself, not queueing.
LIGHT = [
    *("--sessions", "200", "--k", "1", "--secs", "10", "--warm", "2"),
    *("--audio-rate", "10", "--button-rate", "5", "--text-rate", "0"),
]


def suite_light(rounds: int) -> dict[str, Any]:
    cases = [(f"light:{t}", t, "mix", LIGHT) for t in _targets("minimal", "glasscloud")]
    return run_cases("light", cases, rounds)


def suite_sweep(rounds: int, levels: tuple[int, ...]) -> dict[str, Any]:
    cases = [
        (f"n{n}:{t}", t, "mix", ["--sessions", str(n), "--k", "2", "--secs", "6", "--warm", "2"])
        for n in levels
        for t in ("baseline", "glasscloud")
    ]
    out = run_cases("sweep", cases, rounds)
    from bench.plot import plot_sweep

    plot_sweep(out, ROOT / "docs" / "performance-sweep.png")
    return out


def suite_idle(rounds: int, levels: str) -> dict[str, Any]:
    cases = [
        (f"idle:{t}", t, "idle", ["--k", "2", "--levels", levels, "--setup-secs", "400"])
        for t in ("baseline", "glasscloud")
    ]
    return run_cases("idle", cases, rounds)


def suite_slow(rounds: int) -> dict[str, Any]:
    common = [
        "--sessions",
        "300",
        "--k",
        "2",
        "--secs",
        "20",
        "--warm",
        "2",
        "--slow",
        "10",
        "--hot-rate",
        "150",
    ]
    cases = [
        ("slow:control", "glasscloud", "mix", [*common, "--slow-read", "1"]),
        ("slow:stalled", "glasscloud", "mix", [*common, "--slow-read", "0"]),
    ]
    return run_cases("slow", cases, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "suite",
        choices=["all", "saturate", "mix", "sweep", "idle", "slow", "light", "report"],
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-main", action="store_true", help="A/B against --main-ref")
    parser.add_argument("--main-ref", default="main")
    parser.add_argument(
        "--variants", default="", help="extra glasscloud targets, e.g. 'write-now;no-limits'"
    )
    parser.add_argument("--sweep-levels", default="200,400,500,600,800,1000")
    parser.add_argument("--idle-levels", default="1000,2000,4000")
    args = parser.parse_args()
    chosen = (
        ["saturate", "mix", "sweep", "idle", "slow", "light"]
        if args.suite == "all"
        else [args.suite]
    )
    _variants.extend(v for v in args.variants.split(";") if v)
    if args.with_main:
        for n, ref in enumerate(args.main_ref.split(",")):
            kind = "main" if n == 0 else f"main{n + 1}"
            _code[kind], _refs[kind] = export_ref(ref), ref
            print(f"target {kind} = {ref} in {_code[kind]}", flush=True)
    if args.suite == "report":
        chosen = []
    levels = tuple(int(x) for x in args.sweep_levels.split(","))
    for suite in chosen:
        if suite == "saturate":
            suite_saturate(args.rounds)
        elif suite == "mix":
            suite_mix(args.rounds)
        elif suite == "sweep":
            suite_sweep(max(1, args.rounds - 1), levels)
        elif suite == "idle":
            suite_idle(max(1, args.rounds - 1), args.idle_levels)
        elif suite == "slow":
            suite_slow(max(1, args.rounds - 1))
        elif suite == "light":
            suite_light(args.rounds)
    print_suite(RESULTS)


if __name__ == "__main__":
    main()
