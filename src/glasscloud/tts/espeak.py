"""espeak-ng: offline, small, many languages; the default synthesiser when installed
(`apt-get install espeak-ng`). One `espeak-ng --stdin --stdout` process per text (the text
goes on stdin, never on the command line), killed after the timeout.

Options (`GLASSCLOUD_TTS_ESPEAK_<KEY>`): `VOICE` (default `en-us`), `BINARY` (default
`espeak-ng`)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from collections.abc import Mapping

from glasscloud.tts.provider import SpeechSynthesizer, SynthesisError, fix_wav_sizes

VOICE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}$")
BASE_WPM = 175


class EspeakSynthesizer(SpeechSynthesizer):
    name = "espeak"
    default_voice = "en-us"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self.binary = self.options.get("binary", "espeak-ng")
        self.default_voice = self.options.get("voice", "en-us")
        self._voices: frozenset[str] | None = None

    @classmethod
    def available(cls) -> bool:
        return shutil.which("espeak-ng") is not None

    def voices(self) -> frozenset[str]:
        if self._voices is None:
            try:
                listing = subprocess.run(
                    [self.binary, "--voices"], capture_output=True, text=True, timeout=10
                ).stdout
            except (OSError, subprocess.SubprocessError):
                listing = ""
            names = set()
            for line in listing.splitlines()[1:]:
                parts = line.split()
                if len(parts) >= 2:
                    names.add(parts[1].lower())
            self._voices = frozenset(names)
        return self._voices

    def voice_for(self, voice_id: str | None) -> str:
        if voice_id and VOICE_RE.match(voice_id) and voice_id.lower() in self.voices():
            return voice_id.lower()
        return self.default_voice

    async def synthesize(self, text: str, voice: str, speed: float, timeout: float) -> bytes:
        wpm = str(max(80, min(450, round(BASE_WPM * speed))))
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "--stdin",
                "--stdout",
                "-v",
                voice,
                "-s",
                wpm,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SynthesisError(f"espeak-ng could not be started ({exc})") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode()), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise SynthesisError(f"espeak-ng took longer than {timeout:g} s") from None
        if proc.returncode != 0:
            raise SynthesisError(
                f"espeak-ng failed (exit {proc.returncode}): {err.decode(errors='replace')[:200]}"
            )
        return fix_wav_sizes(out)
