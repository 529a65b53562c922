"""The offline default: PocketSphinx with the US-English model that ships inside its PyPI
package (`pip install glasscloud[asr]`). Nothing leaves the machine.

Utterances are cut by PocketSphinx's own `Endpointer` (a WebRTC-style VAD with a 0.3 s
window) and by the hub's `end_utterance` (glasses VAD off, or an audio gap). Options
(`GLASSCLOUD_ASR_POCKETSPHINX_<KEY>`): `language` (default en-US; set it together with `hmm`,
`lm` and `dict` to serve another model), and any other PocketSphinx decoder parameter by name
(`beam`, `lw`, `hmm`, `lm`, `dict`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from glasscloud.asr.provider import Hypothesis, LocalProvider, LocalRecognizer

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2


class PocketsphinxProvider(LocalProvider):
    name = "pocketsphinx"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self._language = self.options.pop("language", "en-US")
        self._idle: list[Any] = []  # decoders of closed streams, reused (a load costs ~0.5 s)

    def languages(self) -> Sequence[str]:
        return [self._language]

    def open(self, language: str) -> LocalRecognizer:
        if self._idle:
            decoder = self._idle.pop()
        else:
            from pocketsphinx import Decoder

            decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **self.options)
        return PocketsphinxRecognizer(decoder, self._idle.append)

    @staticmethod
    def available() -> bool:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            return False
        return True


class PocketsphinxRecognizer(LocalRecognizer):
    def __init__(self, decoder: Any, release: Any) -> None:
        self._decoder = decoder
        self._release = release
        self._buffer = bytearray()
        self._offset = 0.0  # stream seconds before the current endpointer started
        self._consumed = 0  # bytes given to endpointers
        self._in_utterance = False
        self._start = 0.0
        self._last_interim = ""
        self._new_endpointer()

    def _new_endpointer(self) -> None:
        from pocketsphinx import Endpointer

        self._endpointer = Endpointer()
        self._offset = self._consumed / BYTES_PER_SECOND
        self._frame = self._endpointer.frame_bytes

    def feed(self, pcm: bytes) -> list[Hypothesis]:
        results: list[Hypothesis] = []
        self._buffer += pcm
        ep = self._endpointer
        while len(self._buffer) >= self._frame:
            frame = bytes(self._buffer[: self._frame])
            del self._buffer[: self._frame]
            self._consumed += self._frame
            was_in_speech = ep.in_speech
            speech = ep.process(frame)
            if speech is None:
                continue
            if not was_in_speech or not self._in_utterance:
                self._begin(ep.speech_start)
            self._decoder.process_raw(speech, False, False)
            if not ep.in_speech:
                results.append(self._finish(self._offset + ep.speech_end))
        if self._in_utterance:
            hyp = self._decoder.hyp()
            text = hyp.hypstr if hyp is not None else ""
            if text and text != self._last_interim:
                self._last_interim = text
                results.append(self._hypothesis(text, False, self._consumed / BYTES_PER_SECOND))
        return results

    def end_utterance(self) -> list[Hypothesis]:
        ep = self._endpointer
        tail = bytes(self._buffer[: self._frame])
        self._buffer.clear()
        end = self._consumed / BYTES_PER_SECOND
        if ep.in_speech:
            speech = ep.end_stream(tail)
            if speech is not None:
                if not self._in_utterance:
                    self._begin(ep.speech_start)
                self._decoder.process_raw(speech, False, False)
        self._consumed += len(tail)
        self._new_endpointer()
        if not self._in_utterance:
            return [Hypothesis("", True, int(end * 1000), int(end * 1000))]
        return [self._finish(end)]

    def close(self) -> list[Hypothesis]:
        results = self.end_utterance()
        self._release(self._decoder)
        return results

    # ---- helpers ---------------------------------------------------------------------

    def _begin(self, speech_start: float) -> None:
        """Start an utterance at `speech_start` (seconds of the current endpointer)."""
        self._decoder.start_utt()
        self._in_utterance = True
        self._start = self._offset + speech_start
        self._last_interim = ""

    def _finish(self, end: float) -> Hypothesis:
        """The final result of the utterance, which ended at `end` (stream seconds)."""
        self._decoder.end_utt()
        self._in_utterance = False
        hyp = self._decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        return self._hypothesis(text, True, end)

    def _hypothesis(self, text: str, final: bool, end: float) -> Hypothesis:
        return Hypothesis(text, final, int(self._start * 1000), int(max(end, self._start) * 1000))
