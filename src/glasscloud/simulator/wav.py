"""WAV files as microphone audio: 16 kHz, 16-bit, mono PCM in 100 ms frames (3200 bytes),
the format glasses send on /glasses-ws."""

from __future__ import annotations

import wave
from pathlib import Path

SAMPLE_RATE = 16000
FRAME_BYTES = 3200  # 100 ms of 16 kHz 16-bit mono


class WavError(Exception):
    pass


def pcm_frames(path: str | Path, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            if (rate, width, channels) != (SAMPLE_RATE, 2, 1):
                raise WavError(
                    f"{path} is {rate} Hz, {8 * width}-bit, {channels} channel(s); glasses send "
                    "16000 Hz 16-bit mono (convert: ffmpeg -i IN -ar 16000 -ac 1 "
                    "-sample_fmt s16 OUT.wav)"
                )
            data = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise WavError(f"cannot read {path}: {exc}") from None
    return [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]
