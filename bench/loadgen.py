"""The load generator (picows + uvloop, one process, pinned to its own core). Loopback only,
bounded in count and time; prints one line `RESULT {json}`.

Modes:
  mix       N sessions x K Apps at the realistic mix: per glasses 10 audio frames/s (3,200 B),
            1 local_transcription/s, a button press every 5 s (`--audio-rate`,
            `--text-rate`, `--button-rate` change them); App 0 answers each
            transcription with a display_event. Latency percentiles per class, losses,
            server CPU. `--slow S` adds, on the first S sessions, a slow App subscribed to
            audio that reads nothing (`--slow-read` makes it read, the control run); those
            sessions send audio at `--hot-rate` frames/s so its backlog builds up quickly.
  saturate  G sessions x K Apps, each glasses keeps `--window` frames in flight (audio or
            button_press events): deliveries/s and server CPU us per delivery.
  idle      sessions opened in steps (`--levels`), server RSS at each, and a liveness check
            (one button_press per glasses, every App must get it).

    .venv/bin/python -m bench.loadgen mix --target glasscloud --port P --pid PID \
        --database sqlite:////tmp/b.db --secret S --sessions 1000 --k 2 --secs 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Any

import uvloop

from bench.fleet import Fleet, FleetConfig
from bench.peers import BINARY, TEXT, Session, Tally, audio_frame, button_text, now_ns
from bench.peers import transcription_text as transcription
from bench.stalls import summarise
from bench.stats import ProcStats, own_cpu, percentile, pin, raise_nofile

TICK = 0.005  # s; the mix schedule runs on 5 ms ticks


def _lat_summary(samples: list[int]) -> dict[str, float | int | None]:
    def ms(q: float) -> float | None:
        value = percentile(samples, q)
        return None if value is None else value / 1e6

    return {
        "n": len(samples),
        "p50_ms": ms(50),
        "p99_ms": ms(99),
        "p999_ms": ms(99.9),
        "max_ms": max(samples) / 1e6 if samples else None,
    }


def _dump(pid: int, path: str) -> Any:
    """Signal the server (SIGUSR1) to write `path` and read it back as JSON (None if not)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return None
    for _ in range(50):
        time.sleep(0.05)
        try:
            with open(path) as src:
                return json.load(src)
        except (FileNotFoundError, json.JSONDecodeError):
            continue
    return None


def _server_metrics(pid: int, path: str) -> dict[str, int]:
    """bench.serve's counters (it writes its stalls file first, then this one)."""
    out: dict[str, int] = {}
    for item in _dump(pid, path) or []:
        label = ",".join(f"{k}={v}" for k, v in sorted(item["labels"].items()))
        out[item["name"] + (f"[{label}]" if label else "")] = item["value"]
    return out


def _per_second(tally: Tally, kinds: tuple[str, ...]) -> dict[str, float | int | None]:
    """p50/p99 of each second of the window (by send time), then the median over the
    seconds: one second in which the machine took the CPU away (a 100 ms throttle moves the
    p99 of a whole 10 s window) counts once, not for the window."""
    seconds: dict[int, list[int]] = {}
    for kind in kinds:
        for lat, sent in zip(tally.lat.get(kind, []), tally.sent_at.get(kind, []), strict=True):
            seconds.setdefault(sent // 1_000_000_000, []).append(lat)
    full = [v for v in seconds.values() if len(v) >= 100]

    def med(q: float) -> float | None:
        values = sorted(percentile(v, q) or 0 for v in full)
        return values[len(values) // 2] / 1e6 if values else None

    return {"seconds": len(full), "p50_ms": med(50), "p99_ms": med(99)}


async def _open(args: argparse.Namespace, tally: Tally) -> Fleet:
    fleet = Fleet(
        FleetConfig(args.target, args.port, args.k, args.database, args.secret, args.slow),
        tally,
    )
    await fleet.start()
    await fleet.grow(args.sessions, time.monotonic() + args.setup_secs)
    await asyncio.sleep(1.0)  # subscriptions and microphone state settle
    return fleet


def _buckets(rate: float) -> int:
    """Ticks per period for `rate` frames/s per session (1 bucket when the rate is 0)."""
    return max(1, round(1 / (rate * TICK))) if rate > 0 else 1


async def mode_mix(args: argparse.Namespace, srv: ProcStats) -> dict[str, Any]:
    tally = Tally()
    t_setup = time.monotonic()
    fleet = await _open(args, tally)
    setup_s = time.monotonic() - t_setup
    live = [s for s in fleet.sessions if s.glasses is not None and len(s.apps) >= args.k]
    if args.slow and not args.slow_read:
        for session in live[: args.slow]:
            for app in session.apps:
                if app.slow and app.transport is not None:
                    app.transport.underlying_transport.pause_reading()
    hot = live[: args.slow] if args.slow else []
    normal = live[len(hot) :]
    # One bucket per tick of a period: a session sends in the bucket its phase puts it in.
    n_audio, n_text, n_button = (
        _buckets(r) for r in (args.audio_rate, args.text_rate, args.button_rate)
    )
    audio_buckets: list[list[Session]] = [[] for _ in range(n_audio)]
    text_buckets: list[list[Session]] = [[] for _ in range(n_text)]
    button_buckets: list[list[Session]] = [[] for _ in range(n_button)]
    if args.audio_rate > 0:
        for s in normal:
            audio_buckets[s.index % n_audio].append(s)
    for s in live:
        if args.text_rate > 0:
            text_buckets[(s.index * 7) % n_text].append(s)
        if args.button_rate > 0:
            button_buckets[(s.index * 13) % n_button].append(s)
    hot_every = max(1, round(1 / (args.hot_rate * TICK))) if hot else 0
    buf = audio_frame()
    sent = {"audio": 0, "hot_audio": 0, "transcription": 0, "button": 0}
    loop = asyncio.get_running_loop()
    total_ticks = int((args.warm + args.secs) / TICK)
    start = loop.time() + 0.05

    def send_audio(session: Session) -> None:
        buf[:8] = now_ns().to_bytes(8, "little")
        assert session.glasses is not None
        session.glasses.send(BINARY, buf)

    async def ticker() -> None:
        for k in range(total_ticks):
            delay = start + k * TICK - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for s in audio_buckets[k % n_audio]:
                send_audio(s)
            sent["audio"] += len(audio_buckets[k % n_audio])
            if hot_every and k % hot_every == 0:
                for s in hot:
                    send_audio(s)
                sent["hot_audio"] += len(hot)
            for s in text_buckets[k % n_text]:
                s.glasses.send(TEXT, transcription())  # type: ignore[union-attr]
            sent["transcription"] += len(text_buckets[k % n_text])
            for s in button_buckets[k % n_button]:
                s.glasses.send(TEXT, button_text())  # type: ignore[union-attr]
            sent["button"] += len(button_buckets[k % n_button])

    window = [0.0, 0.0]  # wall-clock bounds of the measured window, to match server logs
    extra: dict[str, float] = {}

    async def recorder() -> tuple[float, float, float, int, int]:
        await asyncio.sleep(start - loop.time() + args.warm)
        c0, w0, s0, r0 = srv.cpu(), time.monotonic(), own_cpu(), srv.rss()
        io0, th0 = srv.syscalls(), srv.thread_cpu()
        window[0] = time.time()
        tally.recording = True
        await asyncio.sleep(args.secs)
        tally.recording = False
        c1, w1, s1, r1 = srv.cpu(), time.monotonic(), own_cpu(), srv.rss()
        io1, th1 = srv.syscalls(), srv.thread_cpu()
        window[1] = time.time()
        extra["writes"] = io1[1] - io0[1]
        extra["loop_thread_cpu_s"] = th1[0] - th0[0]
        extra["other_threads_cpu_s"] = th1[1] - th0[1]
        return c1 - c0, w1 - w0, s1 - s0, r0, r1

    task = asyncio.ensure_future(ticker())
    cpu_s, wall, client_s, rss0, rss1 = await recorder()
    late = loop.time() - (start + total_ticks * TICK)
    await task
    await asyncio.sleep(3.0)  # drain: what has not arrived 3 s after the end counts as lost
    k = args.k
    expected = {
        "audio": sent["audio"] * k + sent["hot_audio"] * k,
        "transcription": sent["transcription"] * k,
        "button": sent["button"] * k,
    }
    received = {kind: tally.received.get(kind, 0) for kind in expected}
    displays_sent = sum(s.displays_sent for s in live)
    deliveries = sum(len(v) for key, v in tally.lat.items() if key in expected)
    result: dict[str, Any] = {
        "target": args.target,
        "sessions": args.sessions,
        "live": len(live),
        "k": k,
        "setup_s": setup_s,
        "setup_failed": fleet.failed,
        "sent": sent,
        "expected": expected,
        "received": received,
        "lost": {kk: expected[kk] - received[kk] for kk in expected},
        "displays_sent": displays_sent,
        "displays_received": tally.received.get("display", 0),
        "server_cpu_pct": cpu_s / wall * 100,
        "client_cpu_pct": client_s / wall * 100,
        "deliveries_per_s": deliveries / wall,
        "server_cpu_us_per_delivery": cpu_s / deliveries * 1e6 if deliveries else None,
        "server_rss_mb": rss1 / 2**20,
        "rss_growth_mb": (rss1 - rss0) / 2**20,
        "generator_late_s": late,
        "window_unix_s": window,
        "server_writes_per_delivery": extra["writes"] / deliveries if deliveries else None,
        "server_loop_thread_cpu_pct": extra["loop_thread_cpu_s"] / wall * 100,
        "server_other_threads_cpu_pct": extra["other_threads_cpu_s"] / wall * 100,
    }
    events = tally.lat.get("transcription", []) + tally.lat.get("button", [])
    for kind in ("audio", "transcription", "button", "display", "slow_audio"):
        result[f"lat_{kind}"] = _lat_summary(tally.lat.get(kind, []))
    result["lat_events"] = _lat_summary(events)
    result["lat_glasses_to_app"] = _lat_summary(tally.lat.get("audio", []) + events)
    result["lat_glasses_to_app_per_second"] = _per_second(
        tally, ("audio", "transcription", "button")
    )
    if args.slow:
        result["slow_received"] = tally.received.get("slow_audio", 0)
        result["slow_expected"] = sent["hot_audio"]
    if args.target == "glasscloud":
        result["server_metrics"] = _server_metrics(args.pid, args.metrics_file)
    else:
        _dump(args.pid, args.metrics_file + ".stalls.json")
    result["server_stalls"] = summarise(args.metrics_file + ".stalls.json", (window[0], window[1]))
    await fleet.stop()
    return result


async def mode_saturate(args: argparse.Namespace, srv: ProcStats) -> dict[str, Any]:
    tally = Tally()
    fleet = await _open(args, tally)
    live = [s for s in fleet.sessions if s.glasses is not None and len(s.apps) >= args.k]
    buf = audio_frame()
    k, window = args.k, args.window
    stopped = False

    def pump(session: Session) -> None:
        if stopped:
            return
        inflight = session.sent - session.delivered // k
        if inflight >= window // 2:
            return
        glasses = session.glasses
        assert glasses is not None
        for _ in range(window - inflight):
            if args.kind == "audio":
                buf[:8] = now_ns().to_bytes(8, "little")
                glasses.send(BINARY, buf)
            else:
                glasses.send(TEXT, button_text())
        session.sent += window - inflight

    def on_delivery(session: Session) -> None:
        session.delivered += 1
        pump(session)

    tally.on_delivery = on_delivery
    for s in live:
        pump(s)
    await asyncio.sleep(args.warm)
    kind = "audio" if args.kind == "audio" else "button"
    n0 = tally.received.get(kind, 0)
    c0, w0, s0, io0 = srv.cpu(), time.monotonic(), own_cpu(), srv.syscalls()
    await asyncio.sleep(args.secs)
    c1, w1, s1, io1 = srv.cpu(), time.monotonic(), own_cpu(), srv.syscalls()
    n1 = tally.received.get(kind, 0)
    stopped = True
    await asyncio.sleep(1.0)
    deliveries = n1 - n0
    wall = w1 - w0
    result = {
        "target": args.target,
        "kind": args.kind,
        "sessions": len(live),
        "k": k,
        "window": window,
        "deliveries_per_s": deliveries / wall,
        "server_cpu_pct": (c1 - c0) / wall * 100,
        "client_cpu_pct": (s1 - s0) / wall * 100,
        "server_cpu_us_per_delivery": (c1 - c0) / deliveries * 1e6 if deliveries else None,
        "server_writes_per_delivery": (io1[1] - io0[1]) / deliveries if deliveries else None,
        "server_reads_per_delivery": (io1[0] - io0[0]) / deliveries if deliveries else None,
    }
    await fleet.stop()
    return result


async def mode_idle(args: argparse.Namespace, srv: ProcStats) -> dict[str, Any]:
    tally = Tally()
    fleet = Fleet(FleetConfig(args.target, args.port, args.k, args.database, args.secret), tally)
    await fleet.start()
    deadline = time.monotonic() + args.setup_secs
    out: dict[str, Any] = {
        "target": args.target,
        "k": args.k,
        "rss0_mb": srv.rss() / 2**20,
        "levels": [],
    }
    for level in (int(x) for x in args.levels.split(",")):
        took = await fleet.grow(level, deadline)
        await asyncio.sleep(3)
        rss = srv.rss()
        live = [s for s in fleet.sessions if s.glasses is not None and len(s.apps) >= args.k]
        before = tally.received.get("button", 0)
        for s in live:
            s.glasses.send(TEXT, button_text())  # type: ignore[union-attr]
        waited = time.monotonic()
        while (
            tally.received.get("button", 0) - before < len(live) * args.k
            and time.monotonic() - waited < 15
        ):
            await asyncio.sleep(0.05)
        out["levels"].append(
            {
                "sessions": level,
                "live": len(live),
                "failed": fleet.failed,
                "sockets": len(live) * (args.k + 1),
                "rss_mb": rss / 2**20,
                "open_s": took,
                "liveness_delivered": tally.received.get("button", 0) - before,
                "liveness_expected": len(live) * args.k,
            }
        )
        if fleet.failed or time.monotonic() > deadline:
            break
    levels = out["levels"]
    if len(levels) >= 2 and levels[-1]["live"] > levels[0]["live"]:
        first, last = levels[0], levels[-1]
        per = (last["rss_mb"] - first["rss_mb"]) * 1024 / (last["live"] - first["live"])
        out["kb_per_session"] = per
        out["kb_per_socket"] = per / (args.k + 1)
    await fleet.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["mix", "saturate", "idle"])
    parser.add_argument("--target", choices=["glasscloud", "baseline", "minimal"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="server pid (CPU, RSS)")
    parser.add_argument("--database", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--secs", type=float, default=8)
    parser.add_argument("--warm", type=float, default=2)
    parser.add_argument("--kind", choices=["audio", "event"], default="audio")
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--levels", default="1000,3000,6000")
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--slow-read", type=int, default=0)
    parser.add_argument("--hot-rate", type=float, default=100)
    # per session per second, in the mix (defaults: the realistic mix)
    parser.add_argument("--audio-rate", type=float, default=10)
    parser.add_argument("--text-rate", type=float, default=1, help="local_transcription")
    parser.add_argument("--button-rate", type=float, default=0.2, help="button_press")
    parser.add_argument("--setup-secs", type=float, default=240)
    parser.add_argument("--metrics-file", default="/tmp/glasscloud-bench-metrics.json")
    parser.add_argument("--cpu", type=int, default=1)
    args = parser.parse_args()
    pin(args.cpu)
    raise_nofile()
    srv = ProcStats(args.pid)
    fn = {"mix": mode_mix, "saturate": mode_saturate, "idle": mode_idle}[args.mode]

    async def run() -> dict[str, Any]:
        return await asyncio.wait_for(fn(args, srv), timeout=args.setup_secs + 300)

    print("RESULT " + json.dumps(uvloop.run(run())), flush=True)


if __name__ == "__main__":
    main()
