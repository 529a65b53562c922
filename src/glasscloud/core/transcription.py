"""Speech recognition inside a session: the interface the session drives, and the ports a
recogniser backend implements. `NoTranscription` runs when no recogniser is configured
(phones may still send `local_transcription`, which the session routes itself); the real
hub is `core.recognition.TranscriptionHub`.

The session builds `factory(user_id, deliver, report)` and calls:
- `languages_changed(keys)` with the set of `transcription:<lang>` routing keys that at least
  one running App wants (empty set = nobody: stop recognising),
- `audio(pcm)` for every binary audio frame from the glasses (16 kHz 16-bit mono PCM),
- `vad(speaking)` when the glasses report voice activity,
- `glasses_disconnected()` and `dispose()`.
A hub delivers results with `deliver`: a `transcription` data dict (text, isFinal, startTime,
endTime, speakerId, transcribeLanguage, ...), routed like a phone's `local_transcription`; and
tells the Apps subscribed to a routing key about a recogniser problem with
`report(key, sentence)`. Both are called on the session's (event loop) thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Deliver = Callable[[dict[str, Any]], None]
Report = Callable[[str, str], None]


class NoTranscription:
    def __init__(self, user_id: str, deliver: Deliver, report: Report | None = None) -> None:
        self.user_id = user_id
        self.deliver = deliver

    def languages_changed(self, keys: set[str]) -> None:
        return None

    def audio(self, pcm: bytes) -> None:
        return None

    def vad(self, speaking: bool) -> None:
        return None

    def glasses_disconnected(self) -> None:
        return None

    def dispose(self) -> None:
        return None


TranscriptionFactory = Callable[[str, Deliver, Report], Any]


# ---- the backend ports (implemented in glasscloud.asr, driven by the hub) ---------------


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One recogniser result. Times are milliseconds of audio since the start of the stream
    that produced it; `is_final` closes the utterance (its text will not change again)."""

    text: str
    is_final: bool
    start_ms: int
    end_ms: int
    speaker_id: str = "0"
    confidence: float | None = None


class RecognizerSink(Protocol):
    """Where a backend sends what one stream produced; called on the session's thread."""

    def result(self, hypothesis: Hypothesis) -> None: ...

    def failed(self, reason: str) -> None:
        """The stream is dead (it will produce nothing more)."""
        ...

    def closed(self) -> None:
        """The stream finished after `close()` (its last results were delivered)."""
        ...


class RecognizerStream(Protocol):
    """One open recognition stream of one language. Never blocks the caller."""

    def feed(self, pcm: bytes) -> None: ...

    def end_utterance(self) -> None:
        """The speaker stopped: finish the current utterance now (a final result)."""
        ...

    def close(self) -> None:
        """Finish (a final result for what was fed), then release the recogniser."""
        ...


class RecognizerBackend(Protocol):
    """A speech-recognition provider as the hub sees it."""

    name: str

    def language_for(self, language: str) -> str | None:
        """The language this backend recognises for a requested one (`auto` included), or
        None when it has none for it."""
        ...

    def open(self, language: str, sink: RecognizerSink) -> RecognizerStream: ...
