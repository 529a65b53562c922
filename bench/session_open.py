"""Opening sessions in a burst (a reconnect storm): sessions/s, server CPU per session, Store
operations per session and the time until every App runs.

Each measurement starts a fresh server process (`bench.serve`: the real `start_server` on
uvloop, pinned to core 0, a fresh SQLite file, loopback, ASR from the phone) and runs the load
in this process (pinned to core 1): 2 Apps registered in the store whose App server is here
(`bench.peers.WebhookServer`: answers `session_request` as `@mentra/sdk` does — connect to
/app-ws, `tpa_connection_init`, wait for the ack, subscribe, then 200), then N users opened
C at a time, each glasses with a core token:

- `fresh`: glasses connect -> `connection_ack`, then `start_app` for each App -> webhook ->
  the App connects -> `tpa_connection_ack` (running);
- `restore`: the failover case. The users' running Apps (and what they subscribed to) are
  already in the store, written before the server starts, and no previous process was alive
  recently (no resume window): the glasses connect, the server brings the Apps back by
  webhook, the Apps connect -> running. No `start_app` is sent.

A session counts as open when both its Apps have their `tpa_connection_ack`; the time to all
Apps running runs from the glasses' connect to then. Server CPU comes from /proc (psutil) over
the wave plus a settle period (the coalesced writes that follow, e.g. what Apps resume with,
written `display_save_delay` after the subscriptions), minus the server's idle CPU rate
measured just before. Store operations are counted inside the server (`bench.serve --variant
count-store`: every `Store._run`), the background ones (the alive mark, the key-version
check) shown apart.

    .venv/bin/python -m bench.session_open                       # 500 and 2,000, both modes
    .venv/bin/python -m bench.session_open --sessions 500 --modes fresh --rounds 3
    .venv/bin/python -m bench.session_open --with-main --main-ref main   # A/B with a git ref

Writes bench/results/session_open.json (`--out` to change).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.loadgen import _dump
from bench.peers import HOST, TEXT, GlassesListener, Session, Tally, WebhookServer, connect
from bench.run import RESULTS, ROOT, export_ref, wait_quiet
from bench.stats import ProcStats, median, own_cpu, percentile, pin, raise_nofile
from glasscloud.auth.tokens import issue_core_token
from glasscloud.store.store import Store

K = 2
SUBSCRIPTIONS = ["audio_chunk", "transcription:en-US", "button_press"]
# the alive mark, the key-version check, the developer-token revocation check
BACKGROUND_OPS = ("set_meta", "key_versions", "revoked_developer_token_ids")
# the server under callgrind (`--callgrind`): counting starts switched off
CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no"]
SETTLE = 1.6  # s after the wave: display_save_delay (1 s) and the writes after it


class _Apps(list):  # type: ignore[type-arg]
    """A session's App listeners; resolves `done` when the K-th App runs (the webhook
    server appends a listener once its App got `tpa_connection_ack` and subscribed)."""

    def __init__(self, done: asyncio.Future[float]) -> None:
        super().__init__()
        self.done = done

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) >= K and not self.done.done():
            self.done.set_result(time.perf_counter())


class Server:
    """One `bench.serve` process on core 0, with its own database and secret."""

    def __init__(
        self,
        code: Path,
        database: str,
        directory: str,
        port: int,
        profile: bool = False,
        extra_variants: tuple[str, ...] = (),
        serve_args: tuple[str, ...] = (),
        callgrind: str = "",
    ) -> None:
        self.callgrind = callgrind
        self.secret = secrets.token_hex(32)
        self.metrics = f"{directory}/metrics.json"
        # glasscloud from `code` (a git ref for an A/B), bench.serve from this tree
        env = {**os.environ, "PYTHONPATH": f"{code / 'src'}:{ROOT}"}
        cmd = [sys.executable, "-m", "bench.serve", "--port", str(port), "--database", database]
        if callgrind:  # instructions counted only while `counting()` is on
            cmd = [*CALLGRIND, f"--callgrind-out-file={callgrind}", *cmd]
        cmd += ["--secret", self.secret, "--metrics-out", self.metrics, "--cpu", "0"]
        variants = ["no-stalls", "count-store", "gc-time", *extra_variants]
        if profile:
            variants.append("cprofile")
        cmd += ["--variant", ",".join(variants), *serve_args]
        self.log = open(f"{directory}/server.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        assert self.proc.stdout is not None
        if "READY" not in self.proc.stdout.readline():
            raise RuntimeError(f"the server did not start; see {directory}/server.log")
        self.stats = ProcStats(self.proc.pid)

    def store_ops(self) -> dict[str, float]:
        """Store operations by name, and the collector's seconds as `gc<generation>`."""
        items = _dump(self.proc.pid, self.metrics) or []
        ops = {i["labels"]["op"]: i["value"] for i in items if i["name"] == "store_operations"}
        for i in items:
            if i["name"] == "gc_seconds":
                ops["gc" + i["labels"]["generation"]] = i["value"]
            elif i["name"] in ("gc_garbage", "gc_alive"):
                ops[i["name"][3:] + "_" + i["labels"]["type"]] = i["value"]
            elif i["name"] == "gc_tracked_objects":
                ops["gc_tracked_objects"] = i["value"]
            elif i["name"] == "connections_refused":  # the admission guard (per address...)
                ops["refused_" + i["labels"].get("reason", "")] = i["value"]
        return ops

    def counting(self, on: bool) -> int:
        """Under callgrind: switch instruction counting on or off; off dumps the counts and
        returns the instructions counted since it was switched on (0 without callgrind)."""
        if not self.callgrind:
            return 0
        pid = str(self.proc.pid)
        if on:
            subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
            return 0
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
        before = set(glob.glob(self.callgrind + "*"))
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        for _ in range(100):  # the dump is written by the server's next scheduled slice
            dumps = sorted(set(glob.glob(self.callgrind + "*")) - before)
            if dumps:
                break
            time.sleep(0.1)
        total = 0
        for dump in dumps:
            with open(dump) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        total = max(total, int(line.split()[1]))
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


async def _prepare(
    database: str, webhook_port: int, mode: str, users: list[str]
) -> dict[str, tuple[int, str, list[str], bool]]:
    """Register the K Apps (and, to restore, every user's running Apps) in the database."""
    packages: dict[str, tuple[int, str, list[str], bool]] = {}
    async with await Store.open(database) as store:
        for index in range(K):
            package = f"bench.open.app{index}"
            _record, key = await store.create_app(
                package,
                package,
                f"http://{HOST}:{webhook_port}",
                app_type="background",
                permissions=["MICROPHONE"],
            )
            packages[package] = (index, key, SUBSCRIPTIONS, False)
        if mode == "restore":
            saved = {p: {"subscriptions": SUBSCRIPTIONS} for p in packages}
            for user in users:
                await store.set_running_apps(user, sorted(packages))
                await store.set_resume_state(user, saved)
    return packages


async def _open_one(
    port: int, token: str, session: Session, packages: list[str], fresh: bool
) -> float:
    """One user's glasses; returns the seconds until all its Apps run."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    session.apps = _Apps(done)
    started = time.perf_counter()
    listener = GlassesListener(Tally(), session)
    session.glasses, _ = await connect(
        lambda: listener, f"ws://{HOST}:{port}/glasses-ws", {"Authorization": f"Bearer {token}"}
    )
    await asyncio.wait_for(listener.acked, 30)
    if fresh:
        for package in packages:
            session.glasses.send(
                TEXT, b'{"type":"start_app","packageName":"%s"}' % package.encode()
            )
    return await asyncio.wait_for(done, 60) - started


async def _measure(
    code: Path,
    mode: str,
    n: int,
    concurrency: int,
    port: int,
    pyspy: str = "",
    cprofile: str = "",
    variants: tuple[str, ...] = (),
    redis_url: str = "",
    callgrind: str = "",
) -> dict[str, Any]:
    directory = tempfile.mkdtemp(prefix="gcbench-open-")
    database = f"sqlite:///{directory}/bench.db"
    users = [f"u{i}@open.bench" for i in range(n)]
    sessions = {user: Session(i) for i, user in enumerate(users)}
    webhooks = WebhookServer(Tally(), sessions, {}, None)
    await webhooks.start()
    webhooks.packages.update(await _prepare(database, webhooks.port, mode, users))
    # a cluster node: every user's lease is free (its previous owner drained), so each open
    # is the takeover path: the claim, `take_user_for_session`, then the restore
    serve_args = (
        ("--redis", redis_url, "--node-id", "node-a", "--max-pending", "0") if redis_url else ()
    )
    server = Server(
        code, database, directory, port, bool(cprofile), variants, serve_args, callgrind
    )
    try:
        tokens = {user: issue_core_token(server.secret, user) for user in users}
        await asyncio.sleep(0.5)
        cpu_idle0, idle_t0 = server.stats.cpu(), time.monotonic()
        await asyncio.sleep(1.5)
        idle_rate = (server.stats.cpu() - cpu_idle0) / (time.monotonic() - idle_t0)
        ops_before = server.store_ops()
        gate = asyncio.Semaphore(concurrency)
        times: list[float] = []
        failed = 0
        reasons: collections.Counter[str] = collections.Counter()

        async def one(user: str) -> None:
            nonlocal failed
            async with gate:
                try:
                    times.append(
                        await _open_one(
                            port,
                            tokens[user],
                            sessions[user],
                            sorted(webhooks.packages),
                            mode == "fresh",
                        )
                    )
                except Exception as exc:
                    failed += 1
                    reasons[f"{type(exc).__name__}: {exc}"[:120]] += 1

        spy = None
        if pyspy:  # a profile of the server during the wave (py-spy, raw folded stacks)
            spy_cmd = ["py-spy", "record", "-p", str(server.proc.pid), "-r", "250"]
            spy = subprocess.Popen(
                [*spy_cmd, "-f", "raw", "--threads", "-o", pyspy, "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(1.0)
        server.counting(True)
        times0 = server.stats.proc.cpu_times()
        cpu0, own0, t0 = server.stats.cpu(), own_cpu(), time.monotonic()
        await asyncio.gather(*(one(u) for u in users))
        if spy is not None:
            spy.send_signal(2)
            spy.wait(10)
        if cprofile:
            os.kill(server.proc.pid, signal.SIGTERM)
        cpu1, own1, t1 = server.stats.cpu(), own_cpu(), time.monotonic()
        times1 = server.stats.proc.cpu_times()
        await asyncio.sleep(SETTLE)
        cpu2, t2 = server.stats.cpu(), time.monotonic()
        instructions = server.counting(False)
        ops = server.store_ops()
        delta = {op: ops.get(op, 0) - ops_before.get(op, 0) for op in ops}
        tracked = delta.pop("gc_tracked_objects", 0)
        garbage = {op[8:]: delta.pop(op) for op in list(delta) if op.startswith("garbage_")}
        alive = {op[6:]: delta.pop(op) for op in list(delta) if op.startswith("alive_")}
        gc_s = {op: c for op, c in delta.items() if op.startswith("gc")}
        refused = {op[8:]: c for op, c in delta.items() if op.startswith("refused_") and c}
        session_ops = {
            op: c
            for op, c in delta.items()
            if op not in BACKGROUND_OPS and op not in gc_s and not op.startswith("refused_") and c
        }
        opened = len(times)
        cpu_total = cpu2 - cpu0 - idle_rate * (t2 - t0)
        return {
            "mode": mode,
            "cluster": bool(redis_url),
            "sessions": n,
            "concurrency": concurrency,
            "opened": opened,
            "failed": failed,
            "failure_reasons": dict(reasons),
            "connections_refused": refused,
            "webhook_errors": webhooks.errors,
            "wall_s": t1 - t0,
            "sessions_per_s": opened / (t1 - t0),
            "server_cpu_ms_per_session": 1000 * cpu_total / max(opened, 1),
            # under callgrind: user-space instructions over the wave and its settle
            "server_instructions_per_session": instructions / max(opened, 1),
            "server_cpu_ms_per_session_wave": 1000 * (cpu1 - cpu0) / max(opened, 1),
            "server_cpu_pct_wave": 100 * (cpu1 - cpu0) / (t1 - t0),
            "server_system_share_wave": (times1.system - times0.system) / max(cpu1 - cpu0, 1e-9),
            "server_idle_cpu_pct": 100 * idle_rate,
            "loadgen_cpu_pct_wave": 100 * (own1 - own0) / (t1 - t0),
            "store_ops_per_session": sum(session_ops.values()) / max(opened, 1),
            "store_ops": session_ops,
            "store_ops_background": {op: delta.get(op, 0) for op in BACKGROUND_OPS},
            "gc_ms_per_session": {
                g: 1000 * s / max(opened, 1) for g, s in gc_s.items() if "passes" not in g
            },
            "gc_passes": {g: s for g, s in gc_s.items() if "passes" in g},
            # objects the collector tracks, per open session, after the wave and its settle
            "gc_tracked_objects_per_session": tracked / max(opened, 1),
            # variant gc-garbage: cyclic garbage per session, by type
            "gc_garbage_per_session": {k: v / max(opened, 1) for k, v in garbage.items()},
            "gc_alive_per_session": {k: v / max(opened, 1) for k, v in alive.items()},
            "all_running_p50_ms": 1000 * (percentile(times, 50) or 0),
            "all_running_p99_ms": 1000 * (percentile(times, 99) or 0),
            "machine_loadavg_after": os.getloadavg()[0],
        }
    finally:
        for session in sessions.values():
            for app in session.apps:
                if app.transport is not None:
                    app.transport.disconnect()
            if session.glasses is not None:
                session.glasses.disconnect()
        await asyncio.sleep(0.3)
        server.stop()
        if cprofile and os.path.exists(server.metrics + ".prof"):
            shutil.copy(server.metrics + ".prof", cprofile)
        await webhooks.stop()
        if not os.environ.get("GCBENCH_KEEP"):  # keep the server's log and metrics
            shutil.rmtree(directory, ignore_errors=True)


def _line(target: str, r: dict[str, Any]) -> str:
    return (
        f"{target:>10} {r['mode']:>7} N={r['sessions']:>5} C={r['concurrency']:>3}  "
        f"{r['sessions_per_s']:7.1f}/s  cpu {r['server_cpu_ms_per_session']:6.2f} ms/session "
        f"(wave {r['server_cpu_ms_per_session_wave']:.2f}, {r['server_cpu_pct_wave']:.0f}%, "
        f"sys {100 * r['server_system_share_wave']:.0f}%)  "
        f"store ops {r['store_ops_per_session']:.2f}  running p50/p99 "
        f"{r['all_running_p50_ms']:.0f}/{r['all_running_p99_ms']:.0f} ms  "
        f"failed {r['failed']}  loadgen {r['loadgen_cpu_pct_wave']:.0f}%"
        + (
            f"  Ir {r['server_instructions_per_session'] / 1e6:.2f} M/session"
            if r["server_instructions_per_session"]
            else ""
        )
    )


async def _run(args: argparse.Namespace) -> None:
    targets = {"glasscloud": ROOT}
    if args.with_main:
        targets["main"] = export_ref(args.main_ref)
    port = 8900 + os.getpid() % 400
    redis = None
    if args.cluster:
        from bench.cluster import Redis

        redis = Redis()
    try:
        results = await _rounds(args, targets, port, redis.url if redis else "")
    finally:
        if redis is not None:
            redis.stop()
    _summarise(args, results)


async def _rounds(
    args: argparse.Namespace, targets: dict[str, Path], port: int, redis_url: str
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        for n in [int(x) for x in args.sessions.split(",")]:
            for mode in args.modes.split(","):
                for target, code in targets.items():
                    wait_quiet(max_wait=10.0)
                    port += 1
                    result = await _measure(
                        code,
                        mode,
                        n,
                        args.concurrency,
                        port,
                        args.pyspy and f"{args.pyspy}.{target}.{mode}.{n}.txt",
                        args.cprofile and f"{args.cprofile}.{target}.{mode}.{n}.prof",
                        tuple(v for v in args.variant.split(",") if v),
                        redis_url,
                        args.callgrind and f"{args.callgrind}.{target}.{mode}.{n}.r{round_no}",
                    )
                    result.update(target=target, round=round_no)
                    results.append(result)
                    print(_line(target, result), flush=True)
                    print("   store ops:", json.dumps(result["store_ops"]), flush=True)
                    print(
                        "   gc ms/session:",
                        json.dumps(result["gc_ms_per_session"]),
                        f"tracked objects/session {result['gc_tracked_objects_per_session']:.0f}",
                    )
                    if result["gc_garbage_per_session"]:
                        top = sorted(
                            result["gc_garbage_per_session"].items(), key=lambda kv: -kv[1]
                        )
                        print("   cyclic garbage/session:", {k: round(v, 1) for k, v in top[:25]})
                        top = sorted(result["gc_alive_per_session"].items(), key=lambda kv: -kv[1])
                        print("   tracked objects/session:", {k: round(v, 1) for k, v in top[:40]})
                    if result["connections_refused"]:
                        print("   refused:", json.dumps(result["connections_refused"]))
                    if result["failure_reasons"]:
                        print("   failures:", json.dumps(result["failure_reasons"]), flush=True)
    return results


def _summarise(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    summary = []
    keys = {(r["target"], r["mode"], r["sessions"]) for r in results}
    for target, mode, n in sorted(keys):
        rows = [r for r in results if (r["target"], r["mode"], r["sessions"]) == (target, mode, n)]
        med = {
            k: median([r[k] for r in rows])
            for k in (
                "sessions_per_s",
                "server_cpu_ms_per_session",
                "store_ops_per_session",
                "all_running_p50_ms",
                "all_running_p99_ms",
            )
        }
        summary.append({"target": target, "mode": mode, "sessions": n, **med})
        print(
            f"median {target:>10} {mode:>7} N={n:>5}: {med['sessions_per_s']:.1f}/s, "
            f"{med['server_cpu_ms_per_session']:.2f} ms CPU/session, "
            f"{med['store_ops_per_session']:.2f} store ops/session, p50/p99 "
            f"{med['all_running_p50_ms']:.0f}/{med['all_running_p99_ms']:.0f} ms"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": results, "medians": summary}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sessions", default="500,2000", help="comma-separated N")
    parser.add_argument("--modes", default="fresh,restore")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--cluster", action="store_true", help="the server as a cluster node on a fresh Redis"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--with-main", action="store_true")
    parser.add_argument("--main-ref", default="main")
    parser.add_argument("--pyspy", default="", help="path prefix: profile the server's wave")
    parser.add_argument("--variant", default="", help="extra bench.serve variants, a,b")
    parser.add_argument("--cprofile", default="", help="path prefix: cProfile the wave")
    parser.add_argument(
        "--callgrind",
        default="",
        help="path prefix: run the server under callgrind, count instructions per session",
    )
    parser.add_argument("--out", default=str(RESULTS / "session_open.json"))
    args = parser.parse_args()
    pin(1)
    raise_nofile()
    uvloop.run(_run(args))


if __name__ == "__main__":
    main()
