"""Real speech for the caption tests: sentences synthesised by espeak-ng (a Debian package
that scripts/test installs), resampled to the glasses' 16 kHz 16-bit mono PCM, and the word
error rate used to judge what a recogniser heard."""

from __future__ import annotations

import array
import functools
import re
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

# The espeak-ng voice PocketSphinx's US-English model understands best (docs/captions.md).
VOICE = "en-us+klatt3"
SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "please turn on the kitchen lights",
    "i would like a cup of coffee",
    "what time is the meeting tomorrow",
    "thank you very much for your help",
    "where is the nearest train station",
)
FRAME_BYTES = 3200  # 100 ms


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=64)
def synthesize(text: str, voice: str = VOICE) -> bytes:
    """16 kHz 16-bit little-endian mono PCM of `text` (no header)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        with wave.open(str(path)) as wav:
            rate = wav.getframerate()
            samples = array.array("h", wav.readframes(wav.getnframes()))
    return resample(samples, rate)


def resample(samples: array.array, rate: int, target: int = 16000) -> bytes:
    """Linear interpolation: enough for speech synthesised at 22.05 kHz (measured: the WER
    is no worse than with a windowed-sinc resampler)."""
    count = int(len(samples) * target / rate)
    out = array.array("h", bytes(2 * count))
    step = rate / target
    last = len(samples) - 1
    for i in range(count):
        x = i * step
        j = int(x)
        a = samples[j]
        b = samples[j + 1] if j < last else a
        out[i] = int(a + (b - a) * (x - j))
    return out.tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 16000) * 2)


def frames(pcm: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + insertions + deletions, reference words): Levenshtein over words."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            cost = min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1]))
            diagonal, row[j] = row[j], cost
    return row[len(hyp)], len(ref)


def wer(pairs: list[tuple[str, str]]) -> float:
    """Corpus word error rate over (reference, hypothesis) pairs."""
    errors = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors += e
        total += n
    return errors / max(total, 1)
