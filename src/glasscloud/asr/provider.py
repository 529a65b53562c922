"""The provider interfaces. A provider is chosen by name in the configuration; its class is
found by `glasscloud.asr.registry` (built-in, or an entry point in the
`glasscloud.asr_providers` group naming the class).

Two kinds, because they need different machinery:
- `LocalProvider`: recognition on this machine's CPU (pocketsphinx). Its recognisers run in
  worker processes (`workers.ProcessBackend`), never on the event loop: recognisers written in C
  commonly hold the GIL while decoding (pocketsphinx does, measured in docs/captions.md), so
  threads would stall every socket of the server. Their methods may block.
- `NetworkProvider`: a streaming speech service (Vosk server, a commercial API). One coroutine
  per stream on the event loop (`network.NetworkBackend`); it only moves bytes and JSON, the
  recognition happens on the service. Its code must never block.

Both get their settings as a `dict[str, str]` (from `GLASSCLOUD_ASR_<NAME>_<KEY>` variables:
`GLASSCLOUD_ASR_VOSK_URL` -> `options["url"]` for the provider named `vosk`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import ClassVar

from glasscloud.core.transcription import Hypothesis

__all__ = [
    "END_UTTERANCE",
    "AudioSource",
    "Hypothesis",
    "LocalProvider",
    "LocalRecognizer",
    "NetworkProvider",
    "Provider",
]


class _Provider(ABC):
    name: ClassVar[str]

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.options = dict(options or {})

    @abstractmethod
    def languages(self) -> Sequence[str]:
        """The languages it recognises (`en-US`, ...); the first also serves `auto`."""

    def language_for(self, language: str) -> str | None:
        supported = list(self.languages())
        if language == "auto":
            return supported[0] if supported else None
        return language if language in supported else None


class LocalRecognizer(ABC):
    """One stream of one language, inside a worker process. Calls come in order from one
    thread; each returns the results it produced (possibly none)."""

    @abstractmethod
    def feed(self, pcm: bytes) -> Iterable[Hypothesis]:
        """16 kHz 16-bit little-endian mono PCM, any length."""

    @abstractmethod
    def end_utterance(self) -> Iterable[Hypothesis]:
        """Finish the current utterance. Must return exactly one final result (text empty if
        nothing was said): the hub treats a stream that does not answer as hung."""

    def close(self) -> Iterable[Hypothesis]:
        """The stream ends: finish, then release what it holds."""
        return self.end_utterance()


class LocalProvider(_Provider):
    """A recogniser that runs on this machine. Instances are built in the server (for
    `languages`) and in each worker process (for `open`): keep `__init__` cheap and load models
    in `open`."""

    @abstractmethod
    def open(self, language: str) -> LocalRecognizer: ...


class _EndUtterance:
    def __repr__(self) -> str:
        return "END_UTTERANCE"


END_UTTERANCE = _EndUtterance()
"""Item of an `AudioSource`: the speaker stopped, finish the utterance now."""

AudioSource = AsyncIterator["bytes | _EndUtterance"]


class NetworkProvider(_Provider):
    """A streaming speech service. `stream` runs one recognition stream on the event loop."""

    @abstractmethod
    async def stream(
        self, language: str, audio: AudioSource, emit: Callable[[Hypothesis], None]
    ) -> None:
        """Send `audio` (PCM chunks and `END_UTTERANCE` markers, ending when the hub closes
        the stream) to the service and `emit` what it recognises. Answer each
        `END_UTTERANCE` with one final result (text may be empty). Return when the audio has
        ended and the service has answered; raise on any failure (the hub retries)."""


Provider = LocalProvider | NetworkProvider
