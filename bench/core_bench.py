"""glasscloud's own per-message cost, without sockets: the core (UserSession, routing,
display arbitration) driven with the frames of the realistic mix, into connections that
only count. What is left of a delivery's server CPU beyond this is the stack (aiohttp,
uvloop, the kernel) and the shell (limits, the direct write).

    .venv/bin/python -m bench.core_bench            # µs per message, best of 5 runs
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.records import AppRecord
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.glasses import decode_glasses_message

SUBSCRIPTIONS = ["audio_chunk", "transcription:en-US", "button_press"]


class CountingConnection:
    def __init__(self) -> None:
        self.frames = 0

    def send_text(self, text: str) -> None:
        self.frames += 1

    def send_binary(self, data: bytes) -> None:
        self.frames += 1

    def close(self, code: int, reason: str) -> None:
        pass


class StartAtOnce:
    """Effects whose webhooks succeed at once."""

    def request_app_start(
        self, app: Any, user_id: str, sid: str, on_outcome: Any, on_send: Any = None
    ) -> None:
        if on_send is None or on_send():
            on_outcome(WebhookOutcome(True, 200))

    def request_app_stop(self, app: Any, user_id: str, sid: str, reason: str, done: Any) -> None:
        done()

    def save_running_apps(self, user_id: str, packages: list[str]) -> None:
        pass

    def save_resume_state(self, user_id: str, state: dict[str, Any]) -> None:
        pass


def build(k: int) -> tuple[UserSession, ManualClock, CountingConnection, list[CountingConnection]]:
    clock = ManualClock()
    session = UserSession("bench@example.com", SessionServices(clock, StartAtOnce(), Timings()))
    glasses = CountingConnection()
    session.attach_glasses(glasses)
    apps = []
    for i in range(k):
        conn = CountingConnection()
        add_app(session, i, conn)
        apps.append(conn)
    clock.advance(10)  # past the boot screens
    return session, clock, glasses, apps


def add_app(session: UserSession, i: int, conn: Any) -> None:
    """Start benchmark App `i` in the session, bound to `conn` and subscribed to
    SUBSCRIPTIONS (shared with bench/write_path_bench.py)."""
    record = AppRecord(
        package_name=f"com.bench.app{i}",
        name=f"app{i}",
        public_url="http://127.0.0.1:9",
        app_type="background",
        permissions=("MICROPHONE",),
    )
    session.start_app(record)
    assert session.bind_app(record, conn, {}) is None
    update = {"type": "subscription_update", "subscriptions": SUBSCRIPTIONS}
    session.handle_app_text(conn, json.dumps(update))


def per_call_us(fn: Callable[[int], None], n: int, repeats: int = 5) -> float:
    """Best of `repeats` runs of `fn(0..n-1)`, in µs per call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def cases(built: Any) -> dict[str, Callable[[int], None]]:
    session, clock, _glasses, apps = built
    audio = bytes(3200)
    transcription = (
        '{"type":"local_transcription","text":"hello there","isFinal":true,'
        '"transcribeLanguage":"en-US"}'
    )
    button = '{"type":"button_press","buttonId":"main","pressType":"short"}'

    def display(i: int) -> None:
        clock.advance(0.001)
        session.handle_app_text(
            apps[0],
            '{"type":"display_event","packageName":"com.bench.app0","view":"main",'
            f'"layout":{{"layoutType":"text_wall","text":"caption {i}"}}}}',
        )

    def display_shown(i: int) -> None:
        clock.advance(0.31)  # past the throttle: every display goes to the glasses
        display(i)

    return {
        "audio frame -> K Apps": lambda i: session.handle_glasses_audio(audio),
        "local_transcription -> K Apps": lambda i: session.handle_glasses_message(
            decode_glasses_message(transcription)
        ),
        "button_press -> K Apps": lambda i: session.handle_glasses_message(
            decode_glasses_message(button)
        ),
        "display_event (throttled)": display,
        "display_event (each sent)": display_shown,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=2, help="Apps per session")
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    built = build(args.k)
    _session, _clock, glasses, apps = built
    print(f"K = {args.k} Apps; µs per message (best of 5 x {args.n:,}), core only:")
    for name, fn in cases(built).items():
        print(f"  {name:34s} {per_call_us(fn, args.n):7.2f} µs")
    assert all(a.frames > 0 for a in apps) and glasses.frames > 0


if __name__ == "__main__":
    main()
