"""The interface of a speech synthesiser, and the WAV helpers they share.

A synthesiser turns a short text into one complete audio file (WAV by default: every phone
player, ExoPlayer and AVPlayer alike, plays it; the reference cloud served ElevenLabs MP3).
It runs off the event loop (a subprocess, a thread or a network call) and must honour
`timeout`. Plugins subclass `SpeechSynthesizer` and register it under the entry-point
group `glasscloud.tts_providers` (see `tts.registry`).
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar


class SynthesisError(Exception):
    """The synthesiser could not produce audio for this text (the message says why)."""


class SpeechSynthesizer(ABC):
    name: ClassVar[str]
    media_type: ClassVar[str] = "audio/wav"
    default_voice: ClassVar[str] = ""

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.options = dict(options or {})

    @classmethod
    def available(cls) -> bool:
        """Whether it can run on this machine (its program or library is installed)."""
        return True

    def voice_for(self, voice_id: str | None) -> str:
        """The voice to use for an App's `voice_id` (the SDK's are ElevenLabs ids, which a
        local synthesiser does not have: those get its default voice)."""
        return self.default_voice

    @abstractmethod
    async def synthesize(self, text: str, voice: str, speed: float, timeout: float) -> bytes:
        """The whole audio file for `text`; raises SynthesisError."""


def fix_wav_sizes(data: bytes) -> bytes:
    """A streamed WAV (espeak-ng --stdout) carries placeholder RIFF/data sizes; write the
    real ones so every decoder (Python's `wave` too) sees the true length."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthesisError("the synthesiser did not produce a WAV file")
    out = bytearray(data)
    struct.pack_into("<I", out, 4, len(out) - 8)
    offset = 12
    while offset + 8 <= len(out):
        chunk, size = out[offset : offset + 4], struct.unpack_from("<I", out, offset + 4)[0]
        if chunk == b"data":
            struct.pack_into("<I", out, offset + 4, len(out) - offset - 8)
            return bytes(out)
        offset += 8 + size
    raise SynthesisError("the synthesiser's WAV file has no data chunk")
