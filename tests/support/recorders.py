"""In-memory implementations of the core's ports, for driving the core in unit tests.

They are real implementations of the interfaces (they record what the core sent), not
mocks of glasscloud code."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.records import AppRecord


class RecordingConnection:
    def __init__(self, name: str = "conn") -> None:
        self.name = name
        self.frames: list[str | bytes] = []
        self.closed: tuple[int, str] | None = None

    def send_text(self, text: str) -> None:
        assert self.closed is None, f"{self.name}: send after close"
        json.loads(text)  # every text frame must be valid JSON
        self.frames.append(text)

    def send_binary(self, data: bytes) -> None:
        assert self.closed is None, f"{self.name}: send after close"
        self.frames.append(data)

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)

    def messages(self, msg_type: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(f) for f in self.frames if isinstance(f, str)]
        return [m for m in out if msg_type is None or m.get("type") == msg_type]

    def binaries(self) -> list[bytes]:
        return [f for f in self.frames if isinstance(f, bytes)]

    def clear(self) -> None:
        self.frames.clear()

    def __repr__(self) -> str:
        return f"RecordingConnection({self.name})"


@dataclass
class StartCall:
    app: AppRecord
    user_id: str
    app_session_id: str
    on_outcome: Callable[[WebhookOutcome], None]
    on_send: Callable[[], bool] | None = None
    # None: still queued (RecordingEffects(queued=True)); else whether it was still wanted.
    was_sent: bool | None = None

    def sent(self) -> bool:
        """The shell sends this webhook now (it leaves its App server's queue): returns
        whether the core still wanted it."""
        assert self.was_sent is None, "sent twice"
        self.was_sent = self.on_send() if self.on_send is not None else True
        return self.was_sent


@dataclass
class StopCall:
    app: AppRecord
    user_id: str
    app_session_id: str
    reason: str
    on_done: Callable[[], None]


@dataclass
class RecordingEffects:
    """Start webhooks leave at once (`StartCall.sent()` is called as they are recorded), as
    a shell whose App servers are not saturated would send them; with `queued=True` they
    wait until the test calls `sent()` on them."""

    starts: list[StartCall] = field(default_factory=list)
    stops: list[StopCall] = field(default_factory=list)
    running: dict[str, list[str]] = field(default_factory=dict)
    resumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    queued: bool = False

    def request_app_start(self, app, user_id, app_session_id, on_outcome, on_send=None) -> None:
        call = StartCall(app, user_id, app_session_id, on_outcome, on_send)
        self.starts.append(call)
        if not self.queued:
            call.sent()

    def request_app_stop(self, app, user_id, app_session_id, reason, on_done) -> None:
        self.stops.append(StopCall(app, user_id, app_session_id, reason, on_done))

    def save_running_apps(self, user_id: str, packages: list[str]) -> None:
        self.running[user_id] = list(packages)

    def save_resume_state(self, user_id: str, state: dict[str, Any]) -> None:
        self.resumes[user_id] = json.loads(json.dumps(state))  # stored as JSON, like the store


def app_record(
    package: str = "com.example.app",
    app_type: str = "background",
    permissions: tuple[str, ...] = (),
    **kw: Any,
) -> AppRecord:
    return AppRecord(
        package_name=package,
        name=package.rsplit(".", 1)[-1],
        public_url=f"http://127.0.0.1:9/{package}",
        app_type=app_type,
        permissions=permissions,
        **kw,
    )
