"""Speech recognition inside a session: the interface the session drives. This no-op
placeholder is what runs when no recogniser is configured (phones may still send
`local_transcription`, which the session routes itself); issue 7 adds real providers.

The session calls:
- `languages_changed(keys)` with the set of `transcription:<lang>` routing keys that at least
  one running App wants (empty set = nobody: stop recognising),
- `audio(pcm)` for every binary audio frame from the glasses (16 kHz 16-bit mono PCM),
- `vad(speaking)` when the glasses report voice activity,
- `glasses_disconnected()` and `dispose()`.
A hub delivers results with the `deliver` callback it was built with: a `transcription`
data dict (text, isFinal, startTime, endTime, speakerId, transcribeLanguage, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Deliver = Callable[[dict[str, Any]], None]


class NoTranscription:
    def __init__(self, user_id: str, deliver: Deliver) -> None:
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


TranscriptionFactory = Callable[[str, Deliver], Any]
