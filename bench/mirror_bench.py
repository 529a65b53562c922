"""What the console's mirror tap costs the relay: the core alone (as `bench/core_bench.py`),
three sessions in one run, measured interleaved round by round:

- `no tap`: the session and router as they were before the tap (the two `if ... is not None`
  lines removed, by substituting the pre-tap methods);
- `tap, nobody watches`: the code as shipped, `ctx.mirror` None;
- `tap, 1 watcher`: a `Mirror` attached with one watcher (a bounded deque, as the console's
  stream queue).

    taskset -c 0 .venv/bin/python -m bench.mirror_bench        # µs per message, medians
"""

from __future__ import annotations

import argparse
import statistics
import time
import types
from collections import deque
from typing import Any

from bench.core_bench import build, cases, per_call_us
from glasscloud.core.mirror import Mirror
from glasscloud.core.router import Router
from glasscloud.core.session import UserSession
from glasscloud.protocol.jsonio import encode
from glasscloud.protocol.streams import transcription_key


def _to_glasses_without_tap(self: UserSession, text: str) -> None:
    if self.glasses is None:
        self.services.metrics.inc("glasses_sends_dropped", reason="disconnected")
        return
    self.glasses.send_text(text)


def _deliver_transcription_without_tap(self: Router, data: dict[str, Any]) -> None:
    data_json = encode(data)
    self.deliver(transcription_key(data["transcribeLanguage"]), data_json)
    self.deliver("transcription:auto", data_json, wildcards=False)


def build_without_tap(k: int) -> Any:
    shipped = UserSession._to_glasses
    UserSession._to_glasses = _to_glasses_without_tap  # type: ignore[method-assign]
    try:
        built = build(k)  # the session's parts bind the pre-tap method now
    finally:
        UserSession._to_glasses = shipped  # type: ignore[method-assign]
    session = built[0]
    session._to_glasses = types.MethodType(_to_glasses_without_tap, session)
    router = session.router
    router.deliver_transcription = types.MethodType(_deliver_transcription_without_tap, router)
    return built


def check_ns(n: int = 2_000_000) -> float:
    """The idle tap alone: one attribute load and an identity test."""
    ctx = types.SimpleNamespace(mirror=None)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            if ctx.mirror is not None:
                pass
        empty_start = time.perf_counter()
        for _ in range(n):
            pass
        end = time.perf_counter()
        best = min(best, (empty_start - start) - (end - empty_start))
    return max(best, 0.0) / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=2, help="Apps per session")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    watched = build(args.k)
    mirror = Mirror(watched[1].wall)
    queue: deque[dict[str, Any]] = deque(maxlen=256)
    mirror.add(queue.append)
    watched[0].ctx.mirror = mirror
    variants = {
        "no tap": cases(build_without_tap(args.k)),
        "tap, nobody watches": cases(build(args.k)),
        "tap, 1 watcher": cases(watched),
    }
    names = list(next(iter(variants.values())))
    results: dict[str, dict[str, list[float]]] = {v: {n: [] for n in names} for v in variants}
    for _ in range(args.rounds):
        for name in names:
            for variant, fns in variants.items():
                results[variant][name].append(per_call_us(fns[name], args.n, repeats=3))
    print(
        f"K = {args.k} Apps; µs per message over {args.rounds} interleaved rounds (each the "
        f"best of 3 x {args.n:,}), core only; median / min of the rounds"
    )
    header = "".join(f"{v:>24s}" for v in variants)
    print(f"  {'':30s}{header}{'idle tap / no tap':>20s}")
    for name in names:
        medians = [statistics.median(results[v][name]) for v in variants]
        mins = [min(results[v][name]) for v in variants]
        cells = "".join(f"{m:14.2f} / {b:6.2f}" for m, b in zip(medians, mins, strict=True))
        ratio = f"{medians[1] / medians[0]:.3f} / {mins[1] / mins[0]:.3f}"
        print(f"  {name:30s}{cells}{ratio:>20s}")
    print(f"  the check itself (`ctx.mirror is not None`, False): {check_ns():.1f} ns")
    assert mirror.captions and mirror.main is not None


if __name__ == "__main__":
    main()
