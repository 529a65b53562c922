"""What the parts of one user session share.

`SessionServices` is the same for every session of a process (clock, effects, timings,
metrics, factories, when the process began serving). `SessionContext` is one session's view
of them plus the few session-level actions its parts call (send to the glasses, tell the
glasses an App changed state, persist which Apps run, answer an App with an error). The
router and the App lifecycle get a context instead of a reference to the session, so no
import loop appears and each part can be driven alone in a test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.clock import Clock
from glasscloud.core.display import DisplayFactory
from glasscloud.core.display_manager import DisplayManager
from glasscloud.core.metrics import Metrics
from glasscloud.core.ports import SessionEffects
from glasscloud.core.timings import Timings
from glasscloud.core.transcription import NoTranscription, TranscriptionFactory
from glasscloud.core.translation import Translator
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.jsonio import iso_timestamp

log = logging.getLogger("glasscloud.session")


@dataclass
class SessionServices:
    """Everything a session needs from outside, shared by all sessions of a process.
    `resume_until` (clock time) is until when Apps left running by the previous process may
    still reconnect on their own (the shell derives it from when that process was last
    alive, plus `Timings.app_resume_window`); None: no such Apps can be reconnecting."""

    clock: Clock
    effects: SessionEffects
    timings: Timings = field(default_factory=Timings)
    metrics: Metrics = field(default_factory=Metrics)
    display_factory: DisplayFactory = DisplayManager
    transcription_factory: TranscriptionFactory | None = None  # None: no recogniser
    resume_until: float | None = None
    # App-to-App messages across this process's sessions (core/app_comms.AppComms); set by
    # the SessionRegistry, which knows the sessions.
    app_comms: Any = None
    hardware: Any = None  # core.hardware.HardwareServices (None: no TTS URL, no photo POSTs)
    translator: Translator | None = None  # None: no translation provider

    def __post_init__(self) -> None:
        if self.transcription_factory is None:
            self.transcription_factory = NoTranscription

    def resume_time_left(self) -> float:
        """Seconds during which Apps of the previous process may still reconnect by
        themselves (0 when none can)."""
        if self.resume_until is None:
            return 0.0
        return max(0.0, self.resume_until - self.clock.now())


class SessionLog(logging.LoggerAdapter):
    """Every line about a session carries its user (and the App, where relevant)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.pop("extra", None) or {})
        kwargs["extra"] = extra
        return msg, kwargs


class SessionContext:
    """One session's services and the session-level actions its parts may call."""

    def __init__(
        self,
        user_id: str,
        services: SessionServices,
        send_to_glasses: Callable[[str], None],
        broadcast_state: Callable[[dict[str, Any] | None], None],
        system_settings: dict[str, Any],
        capabilities: dict[str, Any],
        resumable: bool = True,
    ) -> None:
        self.user_id = user_id
        self.services = services
        self.clock = services.clock
        self.timings = services.timings
        self.metrics = services.metrics
        self.effects = services.effects
        self.send_to_glasses = send_to_glasses
        self.broadcast_state = broadcast_state
        # False when this process already ended the user's session once: its Apps were told
        # the session ended, so none of them is reconnecting by itself.
        self.resumable = resumable
        self.system_settings = system_settings
        self.capabilities = capabilities
        self.start_time = iso_timestamp(self.clock.wall())
        self.log = SessionLog(log, {"userId": user_id})
        self.mirror: Any = None  # a core.mirror.Mirror while an operator watches, else None

    def timestamp(self) -> str:
        return iso_timestamp(self.clock.wall())

    def app_log(self, package_name: str) -> SessionLog:
        return SessionLog(log, {"userId": self.user_id, "packageName": package_name})

    def app_error(self, slot: AppSlot, error: ProtocolError) -> None:
        """An error frame with a code, the field and a sentence; the socket stays open (a
        1008 close would leave a zombie session inside the SDK)."""
        self.metrics.inc("app_errors", code=error.code.value)
        self.app_log(slot.package_name).info(
            "rejected App message: %s (%s)", error.message, error.code
        )
        if slot.conn is not None:
            slot.conn.send_text(
                app_wire.connection_error(error.code, error.message, self.timestamp(), error.field)
            )
