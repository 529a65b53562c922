"""Cluster benchmarks (issue 16): loopback only, bounded. Each case starts a real Redis
(`redis-server`, no persistence), two glasscloud nodes (`bench.serve --redis --node-id
--lease`, one shared SQLite file and secret, node A pinned to core 0 like every bench server)
and prints its numbers; results go to bench/results/cluster-<case>.json.

    .venv/bin/python -m bench.cluster delivery --rounds 2
        per-node server CPU per delivery, cluster node vs single node (target <= 1.1x): the
        `light` mix (200 users x 1 App) and event `saturate` of bench.run, same load generator
        (bench.loadgen), against (a) a node without --redis and (b) node A of a two-node
        cluster.
    .venv/bin/python -m bench.cluster failover --users 50,200 --leases 10,3
        N users (glasses + 1 App) on node A; kill -9 A; every glasses reconnects to B (on its
        socket's close); per user, the time from the kill to the App's *fresh* display (sent
        by the App after its new `session_request`) on the glasses: p50/p99/max, and how many
        never came back within lease + 30 s.
    .venv/bin/python -m bench.cluster storm --users 2000 --how term,kill
        2,000 users (glasses + 2 Apps) on A (filled 64 at a time), then SIGTERM (drain) or
        kill -9 A; all glasses reconnect to B as fast as the generator can (`--concurrency`
        handshakes at a time); sessions back (glasses saw both Apps in activeAppSessions) per
        second on B, B's CPU ms per moved session, p50/p99 time to back, failures.
        `--profile S` records B with py-spy for S seconds from the signal (raw stacks in
        bench/results/cluster-storm-<how>.pyspy.txt; `--summarise FILE` prints where they go).

The generator (glasses, the Apps' webhook server and App sockets: picows + aiohttp, the
`@mentra/sdk` wire steps of bench/peers.py) runs in this process, pinned to core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil
import uvloop
from aiohttp import web
from picows import WSFrame, WSListener, WSTransport

from bench.loadgen import _server_metrics
from bench.peers import HOST, TEXT, connect
from bench.run import LIGHT, RESULTS, Target, wait_quiet
from bench.stats import ProcStats, own_cpu, percentile, pin, raise_nofile
from glasscloud.auth.tokens import issue_core_token
from glasscloud.store.store import Store

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.encode
now = time.perf_counter


# ---- Redis and the two nodes ---------------------------------------------------------------


class Redis:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="gcbench-redis-")
        with contextlib.closing(__import__("socket").socket()) as sock:
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            raise SystemExit("bench.cluster needs redis-server (or valkey-server)")
        self.proc = subprocess.Popen(
            [
                binary,
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(200):
            with (
                contextlib.suppress(OSError),
                __import__("socket").create_connection((HOST, self.port), 0.2),
            ):
                return
            time.sleep(0.025)
        raise RuntimeError("redis-server did not listen")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


VARIANTS: list[str] = []  # bench.serve variants of the cluster nodes (--variant)


class Cluster:
    """Redis + nodes A (core 0) and B (core 0 too: A is gone once B works) on one database."""

    def __init__(self, lease: float, unlimited: bool = False, max_pending: int = 0) -> None:
        self.lease = lease
        self.redis = Redis()
        self.dir = tempfile.mkdtemp(prefix="gcbench-cluster-")
        self.database = f"sqlite:///{self.dir}/cluster.db"
        self.secret = secrets.token_hex(32)
        self.nodes: dict[str, Target] = {}
        for node_id in ("node-a", "node-b"):
            # --max-pending 0: every generator socket comes from 127.0.0.1, as through the
            # load balancer of a real cluster (`--max-pending-per-address 0` behind a proxy)
            args = (
                *("--redis", self.redis.url, "--node-id", node_id, "--lease", str(lease)),
                *("--max-pending", str(max_pending)),
                *("--variant", ",".join(("log-cluster-errors", *VARIANTS))),
            )
            self.nodes[node_id] = Target(
                "glasscloud",
                unlimited=unlimited,
                serve_args=args,
                database=self.database,
                secret=self.secret,
            )

    @property
    def a(self) -> Target:
        return self.nodes["node-a"]

    @property
    def b(self) -> Target:
        return self.nodes["node-b"]

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.proc.poll() is None:
                node.stop()
        self.redis.stop()


# ---- delivery: cluster node vs single node -------------------------------------------------

SATURATE_EVENT = [
    *("--kind", "event", "--sessions", "64", "--k", "2", "--window", "16"),
    *("--secs", "4", "--warm", "1"),
]


def _delivery_once(label: str, mode: str, extra: list[str], cluster: bool) -> dict[str, Any]:
    other = wait_quiet(max_wait=8.0)
    unlimited = mode == "saturate"
    group = Cluster(10.0, unlimited) if cluster else None
    target = group.a if group else Target("glasscloud", unlimited=unlimited)
    try:
        time.sleep(0.3)
        res = target.loadgen(mode, *extra)
    finally:
        if group:
            group.stop()
        else:
            target.stop()
        time.sleep(0.5)
    res.pop("server_metrics", None)
    return {
        "case": label,
        "cluster": cluster,
        "machine_busy_before_pct": other,
        "loadavg_after": os.getloadavg()[0],
        **res,
    }


def case_delivery(args: argparse.Namespace) -> dict[str, Any]:
    loads = [("light", "mix", LIGHT), ("saturate-event", "saturate", SATURATE_EVENT)]
    runs = []
    for rnd in range(args.rounds):
        for label, mode, extra in loads:
            for cluster in (False, True):
                res = _delivery_once(label, mode, extra, cluster)
                res["round"] = rnd
                runs.append(res)
                print(
                    f"[delivery r{rnd}] {label:15s} {'cluster' if cluster else 'single':8s} "
                    f"us/delivery={res.get('server_cpu_us_per_delivery')} "
                    f"deliveries/s={res.get('deliveries_per_s')} "
                    f"cpu%={res.get('server_cpu_pct')} err={res.get('error', '')[:200]}",
                    flush=True,
                )
    summary = {}
    for label, _m, _e in loads:
        med = {}
        for cluster in (False, True):
            vals = sorted(
                r["server_cpu_us_per_delivery"]
                for r in runs
                if r["case"] == label
                and r["cluster"] == cluster
                and r.get("server_cpu_us_per_delivery")
            )
            med[cluster] = vals[len(vals) // 2] if vals else None
        ratio = med[True] / med[False] if med[True] and med[False] else None
        summary[label] = {"single_us": med[False], "cluster_us": med[True], "ratio": ratio}
        print(f"{label}: single {med[False]} us, cluster {med[True]} us, ratio {ratio}")
    return {"runs": runs, "summary": summary}


# ---- the generator of failover and storm ---------------------------------------------------


class AppSocket(WSListener):
    def __init__(self) -> None:
        self.acked = asyncio.get_running_loop().create_future()
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if (
            frame.msg_type is TEXT
            and not self.acked.done()
            and b'"tpa_connection_ack"' in frame.get_payload_as_bytes()
        ):
            self.acked.set_result(True)


class User:
    """One user's glasses as the generator sees them, and its Apps' sockets."""

    def __init__(self, gen: Generator, index: int) -> None:
        self.gen = gen
        self.index = index
        self.user_id = f"u{index}@cluster.bench"
        self.token = issue_core_token(gen.secret, self.user_id)
        self.glasses: Glasses | None = None
        self.apps: dict[str, WSTransport] = {}
        self.back_at: float | None = None  # both Apps active again after the signal
        self.display_at: float | None = None  # the App's fresh display after the signal
        self.restored_at: float | None = None  # any display after the signal (maybe restored)
        self.moving = False
        self.reconnected = False
        self.failed: str | None = None


class Glasses(WSListener):
    def __init__(self, user: User, moved: bool) -> None:
        self.user = user
        self.moved = moved  # the connection to the new node
        self.ready = asyncio.get_running_loop().create_future()  # all Apps active
        self.acked = asyncio.get_running_loop().create_future()
        self.seen: list[str] = []  # message types, for a failure's report
        self.closed = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not TEXT:
            if len(self.seen) < 20:
                self.seen.append(frame.msg_type.name)
            return
        payload = frame.get_payload_as_bytes()
        user = self.user
        if len(self.seen) < 20:
            self.seen.append(payload[:80].decode("utf-8", "replace"))
        if b'"display_event"' in payload:
            if not self.moved:
                return
            text = _decode(payload).get("layout", {}).get("text", "")
            t = now()
            if user.restored_at is None:
                user.restored_at = t
            if user.display_at is None and isinstance(text, str) and text.startswith("p1:"):
                user.display_at = t
                user.gen.progress()
        elif b'"connection_ack"' in payload or b'"app_state_change"' in payload:
            msg = _decode(payload)
            if not self.acked.done() and msg.get("type") == "connection_ack":
                self.acked.set_result(True)
            active = set((msg.get("userSession") or {}).get("activeAppSessions") or ())
            if self.user.gen.packages <= active and not self.ready.done():
                self.ready.set_result(now())
                if self.moved and user.back_at is None:
                    user.back_at = now()
                    user.gen.progress()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        user = self.user
        if user.glasses is self and user.moving and not user.reconnected:
            user.gen.reconnect(user)


class Generator:
    def __init__(self, secret: str, database: str, k: int, concurrency: int) -> None:
        self.secret = secret
        self.database = database
        self.k = k
        self.concurrency = concurrency
        self.gate = asyncio.Semaphore(concurrency)
        self.users: dict[str, User] = {}
        self.keys: dict[str, str] = {}
        self.packages: set[str] = set()
        self.phase = 0
        self.target_port = 0
        self.signal_at = 0.0
        self.webhooks = 0
        self.webhook_errors = 0
        self.done = asyncio.Event()
        self.want = "back"  # what counts as back: "back" (Apps active) or "display"
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._reconnects: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0, backlog=4096).start()
        self.port = self._runner.addresses[0][1]
        store = await Store.open(self.database)
        try:
            for i in range(self.k):
                package = f"bench.cluster.app{i}"
                _rec, key = await store.create_app(
                    package,
                    package,
                    f"http://{HOST}:{self.port}",
                    app_type="background",
                    permissions=["MICROPHONE"],
                )
                self.keys[package] = key
                self.packages.add(package)
        finally:
            await store.close()

    async def stop(self) -> None:
        for user in self.users.values():
            for transport in user.apps.values():
                transport.disconnect()
            if user.glasses is not None and getattr(user.glasses, "transport", None):
                user.glasses.transport.disconnect()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("type") != "session_request":
            return web.json_response({"status": "success"})
        self.webhooks += 1
        user = self.users[body["userId"]]
        package = body["sessionId"][len(body["userId"]) + 1 :]
        phase = self.phase
        listener = AppSocket()
        try:
            transport, _ = await connect(lambda: listener, body["mentraOSWebsocketUrl"])
            old = user.apps.pop(package, None)
            if old is not None:  # the SDK drops its old socket on a new session_request
                old.disconnect()
            user.apps[package] = transport
            transport.send(
                TEXT,
                _encode(
                    {
                        "type": "tpa_connection_init",
                        "sessionId": body["sessionId"],
                        "packageName": package,
                        "apiKey": self.keys[package],
                    }
                ),
            )
            await asyncio.wait_for(listener.acked, 30)
            transport.send(
                TEXT,
                _encode(
                    {
                        "type": "subscription_update",
                        "packageName": package,
                        "sessionId": body["sessionId"],
                        "subscriptions": ["button_press"],
                    }
                ),
            )
            transport.send(
                TEXT,
                _encode(
                    {
                        "type": "display_event",
                        "packageName": package,
                        "sessionId": body["sessionId"],
                        "view": "main",
                        "durationMs": 0,
                        "layout": {"layoutType": "text_wall", "text": f"p{phase}:{package}"},
                    }
                ),
            )
        except Exception:
            self.webhook_errors += 1
            return web.json_response({"status": "error"}, status=500)
        return web.json_response({"status": "success"})

    async def _open(self, user: User, port: int, moved: bool) -> None:
        glasses = Glasses(user, moved)
        transport, _ = await connect(
            lambda: glasses,
            f"ws://{HOST}:{port}/glasses-ws",
            {"Authorization": f"Bearer {user.token}"},
        )
        glasses.transport = transport  # type: ignore[attr-defined]
        user.glasses = glasses
        await asyncio.wait_for(glasses.acked, 30)
        if not moved:
            for package in sorted(self.packages):
                transport.send(TEXT, b'{"type":"start_app","packageName":"%s"}' % package.encode())
            await asyncio.wait_for(glasses.ready, 60)

    async def fill(self, n: int, port: int) -> tuple[float, int]:
        """Open n sessions on one node, 64 at a time; returns (seconds, failures)."""
        gate = asyncio.Semaphore(64)
        failed = 0
        start = now()

        async def one(user: User) -> None:
            nonlocal failed
            async with gate:
                try:
                    await self._open(user, port, moved=False)
                except Exception:
                    failed += 1

        users = [User(self, i) for i in range(len(self.users), len(self.users) + n)]
        for user in users:
            self.users[user.user_id] = user
        await asyncio.gather(*(one(u) for u in users))
        return now() - start, failed

    def begin_move(self, port: int) -> None:
        self.phase = 1
        self.target_port = port
        self.signal_at = now()
        for user in self.users.values():
            user.moving = True

    def sweep(self) -> None:
        """Glasses whose close was not seen (yet): reconnect them anyway."""
        for user in self.users.values():
            if not user.reconnected:
                self.reconnect(user)

    def reconnect(self, user: User) -> None:
        user.reconnected = True
        self._reconnects.append(asyncio.get_running_loop().create_task(self._reconnect(user)))

    async def _reconnect(self, user: User) -> None:
        async with self.gate:
            try:
                await self._open(user, self.target_port, moved=True)
            except Exception as exc:
                glasses = user.glasses
                seen = (glasses.seen, glasses.closed) if glasses is not None else None
                user.failed = f"{exc!r} {seen}"[:400]

    def progress(self) -> None:
        attr = "back_at" if self.want == "back" else "display_at"
        if all(getattr(u, attr) is not None for u in self.users.values()):
            self.done.set()


async def _lease_timeline(url: str, users: list[str], out: dict[str, Any]) -> None:
    """Every 0.5 s from the signal: how many of the users' leases node A / node B hold."""
    import redis.asyncio as aioredis

    from glasscloud.cluster import keys

    client = aioredis.from_url(url, decode_responses=True)
    line: list[tuple[float, int, int]] = []
    out["leases_a_b_by_half_second"] = line
    start = now()
    try:
        while True:
            values = await client.mget([keys.owner(u) for u in users])
            a = sum(1 for v in values if v and v.startswith("node-a "))
            b = sum(1 for v in values if v and v.startswith("node-b "))
            line.append((round(now() - start, 1), a, b))
            await asyncio.sleep(0.5)
    finally:
        await client.aclose()


def _dist(values: list[float]) -> dict[str, Any]:
    def q(p: float) -> float | None:
        v = percentile(values, p)
        return None if v is None else round(v * 1000, 1)

    return {
        "n": len(values),
        "p50_ms": q(50),
        "p99_ms": q(99),
        "max_ms": round(max(values) * 1000, 1) if values else None,
    }


def _per_second(times: list[float]) -> dict[str, Any]:
    if not times:
        return {}
    buckets = collections.Counter(int(t) for t in times)
    return {
        "peak_per_s": max(buckets.values()),
        "by_second": [buckets.get(i, 0) for i in range(int(max(times)) + 1)],
    }


async def _move(
    group: Cluster,
    n: int,
    k: int,
    how: str,
    want: str,
    concurrency: int,
    profile: float,
    profile_out: Path | None,
) -> dict[str, Any]:
    """Fill A with n users x k Apps, signal A, reconnect everyone to B, measure."""
    gen = Generator(group.secret, group.database, k, concurrency)
    gen.want = want
    await gen.start()
    a_stats, b_stats = ProcStats(group.a.proc.pid), ProcStats(group.b.proc.pid)
    r_stats = ProcStats(group.redis.proc.pid)
    out: dict[str, Any] = {"users": n, "k": k, "how": how, "concurrency": concurrency}
    try:
        c0 = a_stats.cpu()
        r0 = r_stats.cpu()
        fill_s, fill_failed = await gen.fill(n, group.a.port)
        out.update(
            fill_s=round(fill_s, 2),
            fill_failed=fill_failed,
            fill_per_s=round(n / fill_s, 1),
            a_cpu_ms_per_session_opened=round((a_stats.cpu() - c0) / n * 1000, 2),
            redis_cpu_ms_per_session_opened=round((r_stats.cpu() - r0) / n * 1000, 3),
        )
        print(f"  filled {n} on A in {fill_s:.1f} s ({fill_failed} failed)", flush=True)
        # A at rest with n users: renewal + announcement every lease/3 s
        await asyncio.sleep(1.0)
        c0, r0, t0 = a_stats.cpu(), r_stats.cpu(), now()
        await asyncio.sleep(6.0)
        out["a_idle_cpu_pct"] = round((a_stats.cpu() - c0) / (now() - t0) * 100, 2)
        out["redis_idle_cpu_pct"] = round((r_stats.cpu() - r0) / (now() - t0) * 100, 2)
        other = psutil.cpu_percent(interval=None)
        out["loadavg_before"] = os.getloadavg()[0]
        spy = None
        if profile and shutil.which("py-spy") and profile_out is not None:
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-p",
                    str(group.b.proc.pid),
                    "-d",
                    str(max(1, round(profile))),
                    "-r",
                    "100",
                    "-f",
                    "raw",
                    "-o",
                    str(profile_out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(f"{profile_out}.log", "w"),  # noqa: SIM115
            )
            await asyncio.sleep(1.0)  # attached
        hooks0 = gen.webhooks
        b0, r0, g0 = b_stats.cpu(), r_stats.cpu(), own_cpu()
        a_seen = [a_stats.cpu()] * 2  # at the signal, and the last reading while A lives

        async def watch_a() -> None:
            while (cpu := _cpu_or(a_stats, -1.0)) >= 0:
                a_seen[1] = cpu
                await asyncio.sleep(0.1)

        a_watch = asyncio.get_running_loop().create_task(watch_a())
        gen.begin_move(group.b.port)
        os.kill(group.a.proc.pid, signal.SIGTERM if how == "term" else signal.SIGKILL)
        loop = asyncio.get_running_loop()
        loop.call_later(3.0, gen.sweep)
        timeline = loop.create_task(_lease_timeline(group.redis.url, list(gen.users), out))
        limit = (30.0 if how == "term" else group.lease + 30.0) + n / 100
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gen.done.wait(), limit)
        end = now()
        timeline.cancel()
        if not gen.done.is_set() and os.environ.get("GCBENCH_HOLD"):
            print(f"  HOLD: B pid {group.b.proc.pid} port {group.b.port}", flush=True)
            await asyncio.sleep(float(os.environ["GCBENCH_HOLD"]))
        if not gen.done.is_set():  # where B's tasks wait (bench.serve's SIGUSR2)
            os.kill(group.b.proc.pid, signal.SIGUSR2)
            await asyncio.sleep(1.0)
            with contextlib.suppress(OSError):
                out["b_tasks_when_stuck"] = Path(group.b.metrics + ".tasks.txt").read_text()[:6000]
        b_cpu = b_stats.cpu() - b0
        r_cpu = r_stats.cpu() - r0
        gen_cpu = own_cpu() - g0
        a_watch.cancel()
        a_cpu = a_seen[1] - a_seen[0]  # A drains on B's core (SIGTERM); up to 0.1 s unseen
        await asyncio.sleep(0.5)
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(profile + 10)
        metrics = _server_metrics(group.b.proc.pid, group.b.metrics)
        out["b_cluster_metrics"] = {
            k: v
            for k, v in metrics.items()
            if k.startswith(("cluster_", "webhook", "connections_refused"))
        }
        attr = "back_at" if want == "back" else "display_at"
        took = [
            getattr(u, attr) - gen.signal_at
            for u in gen.users.values()
            if getattr(u, attr) is not None
        ]
        missing = [u for u in gen.users.values() if getattr(u, attr) is None]
        span = max(took) if took else end - gen.signal_at
        first = min(took) if took else 0.0
        out.update(
            signal_to_all_back_s=round(span, 2),
            first_back_s=round(first, 2),
            back=len(took),
            never_back=len(missing),
            reconnect_failures=sum(1 for u in gen.users.values() if u.failed),
            failure_examples=[u.failed for u in missing if u.failed][:3],
            time_to_back=_dist(took),
            sessions_back_per_s=round(len(took) / span, 1) if span else None,
            sessions_back_per_s_after_first=(
                round(len(took) / (span - first), 1) if span > first else None
            ),
            per_second=_per_second(took),
            b_cpu_s=round(b_cpu, 2),
            b_cpu_ms_per_moved_session=round(b_cpu / max(1, len(took)) * 1000, 2),
            b_cpu_pct_during=round(b_cpu / (end - gen.signal_at) * 100, 1),
            redis_cpu_s=round(r_cpu, 2),
            # core 1 holds the generator and Redis: a busy core 1 lengthens every round trip
            generator_cpu_pct_during=round(gen_cpu / (end - gen.signal_at) * 100, 1),
            a_cpu_s_during_move=round(a_cpu, 2),
            webhooks_during_move=gen.webhooks - hooks0,
            webhook_errors=gen.webhook_errors,
            machine_busy_pct_before=other,
            loadavg_after=os.getloadavg()[0],
        )
        if want == "display":
            restored = [
                u.restored_at - gen.signal_at
                for u in gen.users.values()
                if u.restored_at is not None
            ]
            out["time_to_first_display_any"] = _dist(restored)
    finally:
        await gen.stop()
    return out


def _cpu_or(stats: ProcStats, default: float) -> float:
    """The process's CPU seconds, or `default` once it is gone (and reaped)."""
    try:
        return stats.cpu()
    except psutil.Error:
        return default


def _run_move(
    lease: float,
    n: int,
    k: int,
    how: str,
    want: str,
    concurrency: int,
    profile: float = 0.0,
    profile_out: Path | None = None,
) -> dict[str, Any]:
    other = wait_quiet(max_wait=8.0)
    group = Cluster(lease)
    try:
        time.sleep(0.3)
        res = uvloop.run(_move(group, n, k, how, want, concurrency, profile, profile_out))
    finally:
        group.stop()
        time.sleep(0.5)
    return {"lease_s": lease, "machine_busy_before_pct": other, **res}


def case_failover(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for rnd in range(args.rounds):
        for lease in (float(x) for x in args.leases.split(",")):
            for n in (int(x) for x in args.users.split(",")):
                res = _run_move(lease, n, 1, "kill", "display", args.concurrency)
                res["round"] = rnd
                runs.append(res)
                print(
                    f"[failover r{rnd}] lease {lease:g} s, {n} users: "
                    f"{json.dumps({k: res.get(k) for k in _SHOW_FAILOVER})}",
                    flush=True,
                )
    return {"runs": runs}


_SHOW_FAILOVER = (
    "time_to_back",
    "time_to_first_display_any",
    "never_back",
    "reconnect_failures",
    "b_cpu_ms_per_moved_session",
    "fill_failed",
)
_SHOW_STORM = (
    "fill_per_s",
    "a_cpu_ms_per_session_opened",
    "a_idle_cpu_pct",
    "time_to_back",
    "sessions_back_per_s",
    "sessions_back_per_s_after_first",
    "per_second",
    "b_cpu_ms_per_moved_session",
    "b_cpu_pct_during",
    "redis_cpu_s",
    "generator_cpu_pct_during",
    "a_cpu_s_during_move",
    "never_back",
    "reconnect_failures",
    "fill_failed",
    "webhook_errors",
)


def case_storm(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for rnd in range(args.rounds):
        for how in args.how.split(","):
            out = (
                RESULTS / f"cluster-storm{args.tag}-{how}-r{rnd}.pyspy.txt"
                if args.profile
                else None
            )
            res = _run_move(
                args.lease, args.users, 2, how, "back", args.concurrency, args.profile, out
            )
            res["round"] = rnd
            runs.append(res)
            print(
                f"[storm r{rnd}] {how}, {args.users} users: "
                f"{json.dumps({k: res.get(k) for k in _SHOW_STORM})}",
                flush=True,
            )
    return {"runs": runs}


def summarise_profile(path: str, top: int = 25) -> None:
    """Where a py-spy raw (collapsed stacks) profile goes: self and inclusive time per
    function, and the glasscloud.cluster share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].split("/")[-1]
            if name not in seen:
                inclusive[name] += n
                seen.add(name)
        own[frames[-1].split(" (")[0]] += n
    print(f"{total} samples")
    print("inclusive:")
    for name, n in inclusive.most_common(top):
        print(f"  {n / total * 100:5.1f}%  {name}")
    print("self:")
    for name, n in own.most_common(top):
        print(f"  {n / total * 100:5.1f}%  {name}")
    for needle in ("cluster/", "redis/", "store/", "idle"):
        n = sum(
            int(line.rpartition(" ")[2])
            for line in Path(path).read_text().splitlines()
            if needle in line and line.rpartition(" ")[2].isdigit()
        )
        print(f"stacks through {needle}: {n / total * 100:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("case", choices=["delivery", "failover", "storm", "summarise"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--users", default="")
    parser.add_argument("--leases", default="10,3", help="failover: lease seconds to try")
    parser.add_argument("--lease", type=float, default=10.0, help="storm: lease seconds")
    parser.add_argument("--how", default="term,kill", help="storm: term (drain) and/or kill")
    parser.add_argument("--concurrency", type=int, default=256, help="reconnects at a time")
    parser.add_argument("--profile", type=float, default=0.0, help="storm: py-spy seconds")
    parser.add_argument("--file", default="", help="summarise: a py-spy raw file")
    parser.add_argument(
        "--variant",
        default="",
        help="bench.serve variants for the nodes, e.g. blocking-pool (the proposed fix)",
    )
    parser.add_argument("--tag", default="", help="results file suffix")
    args = parser.parse_args()
    VARIANTS.extend(v for v in args.variant.split(",") if v)
    if args.case == "summarise":
        summarise_profile(args.file)
        return
    pin(1)
    raise_nofile()
    started = time.time()
    if args.case == "delivery":
        result = case_delivery(args)
    elif args.case == "failover":
        args.users = args.users or "50,200"
        result = case_failover(args)
    else:
        args.users = int(args.users or 2000)
        result = case_storm(args)
    result.update(
        case=args.case,
        started=started,
        cpus=os.cpu_count(),
        args={k: v for k, v in vars(args).items()},
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"cluster-{args.case}{args.tag}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
