"""Translation inside a session: finals of the source language, translated by a provider,
delivered to the Apps subscribed to `translation:<from>-to-<to>` as the SDK's
TranslationData.

Rules, in order:
- with no provider configured (`SessionServices.translator` None), a translation
  subscription is refused at once with TRANSLATION_UNAVAILABLE naming the stream and what is
  missing (before, it was accepted and nothing ever arrived); the same when the provider
  cannot translate that pair;
- an accepted `translation:<from>-to-<to>` makes the session recognise `<from>` (`all`:
  `transcription:auto`), like a `transcription:<from>` subscription would;
- only final results are translated (an interim one changes with the next word); a final of
  `<from>` (of any language for `all`, except `<to>` itself) goes to the provider once per
  wanted target, and the result to every subscriber of that stream;
- results are delivered in the order their finals arrived, per stream (a slow answer holds
  back later ones; at most `MAX_WAITING` wait, the oldest is dropped beyond, counted);
- a failed translation is told to the stream's subscribers as a TRANSLATION_UNAVAILABLE
  error frame naming the stream; later finals are tried again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from glasscloud.core.apps import AppSlot
from glasscloud.core.parts import SessionPart
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import encode
from glasscloud.protocol.streams import Subscription

if TYPE_CHECKING:
    from glasscloud.core.context import SessionContext
    from glasscloud.core.router import Router

MAX_WAITING = 32
Done = Callable[["str | None", "str | None"], None]  # (translated text, error sentence)


class Translator(Protocol):
    """The port a translation backend implements (glasscloud.translation runs providers)."""

    name: str

    def supports(self, source: str, target: str) -> bool: ...

    def translate(self, text: str, source: str, target: str, done: Done) -> None:
        """Start one translation; `done(text, None)` or `done(None, why)` later, on the
        session's thread. Never blocks."""
        ...


def parse_key(key: str) -> tuple[str, str]:
    """`translation:es-ES-to-en-US` -> ("es-ES", "en-US")."""
    source, _, target = key.partition(":")[2].partition("-to-")
    return source, target


@dataclass(eq=False)
class _Job:
    data: dict[str, Any]
    result: str | None = None
    finished: bool = False


class TranslationHub(SessionPart):
    def __init__(self, ctx: SessionContext, router: Router) -> None:
        self.ctx = ctx
        self.router = router
        self.translator: Translator | None = ctx.services.translator
        self._queues: dict[str, deque[_Job]] = {}
        self._disposed = False

    def _keys(self) -> set[str]:
        return {k for k in self.router.subscriptions.media_keys() if k.startswith("translation:")}

    def refuse(self, slot: AppSlot, sub: Subscription) -> ProtocolError | None:
        if sub.base != "translation":
            return None
        source, target = parse_key(sub.key)
        if self.translator is None:
            missing = "no translation provider is configured on this glasscloud"
        elif not self.translator.supports(source, target):
            missing = f"the translation provider '{self.translator.name}' cannot translate "
            missing += f"{source} to {target}"
        else:
            return None
        self.ctx.metrics.inc("translation_refusals")
        return ProtocolError(
            ErrorCode.TRANSLATION_UNAVAILABLE,
            f"Subscription to {sub.raw} refused: {missing} (set GLASSCLOUD_TRANSLATION_PROVIDER"
            "; see README, Translation).",
            "subscriptions",
        )

    def wanted_languages(self) -> set[str]:
        wanted = set()
        for key in self._keys():
            source, _ = parse_key(key)
            wanted.add("transcription:auto" if source == "all" else f"transcription:{source}")
        return wanted

    def transcription(self, data: dict[str, Any]) -> None:
        if self.translator is None or not data.get("isFinal") or not data.get("text"):
            return
        language = data.get("transcribeLanguage")
        for key in self._keys():
            source, target = parse_key(key)
            if (source == language or source == "all") and language != target:
                self._start(key, data, language, target)

    def _start(self, key: str, data: dict[str, Any], source: str, target: str) -> None:
        assert self.translator is not None
        queue = self._queues.setdefault(key, deque())
        if len(queue) >= MAX_WAITING:
            queue.popleft()
            self.ctx.metrics.inc("translations_dropped")
        job = _Job(data)
        queue.append(job)

        def done(text: str | None, error: str | None) -> None:
            if self._disposed:
                return
            job.result, job.finished = text, True
            if text is None:
                self._report(key, error or "the provider gave no translation")
            self._flush(key, target)

        self.translator.translate(data["text"], source, target, done)

    def _flush(self, key: str, target: str) -> None:
        queue = self._queues.get(key)
        while queue and queue[0].finished:
            job = queue.popleft()
            if job.result is not None:
                self.router.deliver(key, encode(self._translation(job, target)))
                self.ctx.metrics.inc("translations_delivered")
        if queue is not None and not queue:
            del self._queues[key]

    def _translation(self, job: _Job, target: str) -> dict[str, Any]:
        data = job.data
        body = {
            "type": "translation",
            "text": job.result,
            "originalText": data["text"],
            "isFinal": True,
            "startTime": data.get("startTime", 0),
            "endTime": data.get("endTime", 0),
            "speakerId": data.get("speakerId"),
            "duration": data.get("duration"),
            "transcribeLanguage": data.get("transcribeLanguage"),
            "translateLanguage": target,
            "didTranslate": True,
            "provider": self.translator.name if self.translator else None,
        }
        return {k: v for k, v in body.items() if v is not None}

    def _report(self, key: str, why: str) -> None:
        self.ctx.metrics.inc("translation_failures")
        ts = self.ctx.timestamp()
        for package_name, raw in self.router.subscriptions.recipients(key):
            slot = self.router.slots.get(package_name)
            if slot is not None and slot.live:
                slot.conn.send_text(  # type: ignore[union-attr]
                    app_wire.connection_error(
                        ErrorCode.TRANSLATION_UNAVAILABLE,
                        f"{raw}: a translation failed ({why}); the next ones are tried again.",
                        ts,
                        "subscriptions",
                    )
                )

    def dispose(self) -> None:
        self._disposed = True
        self._queues.clear()
