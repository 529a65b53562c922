"""What the delivery-latency sample costs per glasses frame: the glasses reader's loop
(`server/glasses_ws.py: _serve`) over the core with and without the 1-in-N countdown and
its `call_soon` + histogram observation, the two variants interleaved in one process.

    taskset -c 0 .venv/bin/python -m bench.metrics_bench     # ns per frame, best of rounds
"""

from __future__ import annotations

import argparse
import asyncio
import time

from prometheus_client import CollectorRegistry, Histogram

from bench.core_bench import build
from glasscloud.server.metrics import DELIVERY_BUCKETS, DELIVERY_SAMPLE_EVERY, DeliverySampler


def _nothing(data: bytes) -> None:
    pass


async def measure(n: int, rounds: int, every: int, core: bool = True) -> dict[str, float]:
    """`core`: frames go through the real core (audio to 2 Apps); else to a no-op, which
    isolates the sample's own cost from the core's noise."""
    session, _clock, _glasses, _apps = build(2)
    audio = bytes(3200)
    frames = [audio] * n
    histogram = Histogram("d", "d", buckets=DELIVERY_BUCKETS, registry=CollectorRegistry())
    sampler = DeliverySampler(histogram, every)
    handle = session.handle_glasses_audio if core else _nothing
    perf_counter = time.perf_counter

    def plain() -> float:
        start = perf_counter()
        for data in frames:  # today's loop body
            handle(data)
        return perf_counter() - start

    def sampled() -> float:
        start = perf_counter()
        countdown = sampler.every
        for data in frames:  # the loop body with the sample, as in _serve
            countdown -= 1
            started = 0.0 if countdown else perf_counter()
            handle(data)
            if started:
                countdown = sampler.sampled(started)
        return perf_counter() - start

    best = {"plain": float("inf"), "sampled": float("inf")}
    for _ in range(rounds):
        for name, fn in (("plain", plain), ("sampled", sampled)):
            best[name] = min(best[name], fn())
            await asyncio.sleep(0)  # let the sampled frames' callbacks run
    samples = histogram.collect()[0].samples
    count = next(s.value for s in samples if s.name == "d_count")
    assert count >= n // every
    return {name: seconds / n * 1e9 for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--every", type=int, default=DELIVERY_SAMPLE_EVERY)
    args = parser.parse_args()
    for core, what in ((True, "audio frame -> 2 Apps (core)"), (False, "no-op handler")):
        result = asyncio.run(measure(args.n, args.rounds, args.every, core))
        plain, sampled = result["plain"], result["sampled"]
        print(f"{what}, ns per frame (best of {args.rounds} x {args.n:,}):")
        print(f"  without the sample            {plain:8.1f} ns")
        print(f"  with 1 in {args.every} sampled        {sampled:8.1f} ns")
        print(f"  difference                    {sampled - plain:+8.1f} ns")


if __name__ == "__main__":
    main()
