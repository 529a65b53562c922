"""Live-captions benchmark: real-time factor, word error rate, caption latency and how many
users one core transcribes, per local provider configuration.

    .venv/bin/python -m bench.asr_bench [--sentences 6]

- RTF: CPU seconds the recogniser spends per second of audio (in-process, 100 ms frames).
- WER: over espeak-ng sentences (tests/support/speech.py), one decoder, in order.
- latency: end of speech (the last speech frame is fed and VAD goes off) -> the final result
  delivered by the hub, through the real worker-process backend, audio paced in real time.
- users per core: 1 / RTF for continuous speech; glasses send audio only while their VAD says
  speech, so a typical conversation (speech ~1/3 of the time) fits about 3x as many.
Results are recorded in docs/captions.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from tests.support.speech import SENTENCES, frames, silence, synthesize, wer

from glasscloud.asr.pocketsphinx import PocketsphinxProvider
from glasscloud.asr.workers import ProcessBackend
from glasscloud.core.recognition import TranscriptionHub
from glasscloud.server.clock import LoopClock

CONFIGS = {
    "pocketsphinx": {},
    "pocketsphinx (maxhmmpf=3000, maxwpf=5)": {"maxhmmpf": "3000", "maxwpf": "5"},
}


def rtf_and_wer(options: dict[str, str], sentences: list[str]) -> tuple[float, float]:
    provider = PocketsphinxProvider(options)
    recognizer = provider.open("en-US")
    cpu = audio = 0.0
    pairs = []
    for sentence in sentences:
        pcm = silence(0.3) + synthesize(sentence) + silence(0.5)
        audio += len(pcm) / 32000
        texts = []
        start = time.process_time()
        for frame in frames(pcm):
            texts += [h.text for h in recognizer.feed(frame) if h.is_final]
        texts += [h.text for h in recognizer.end_utterance() if h.is_final]
        cpu += time.process_time() - start
        pairs.append((sentence, " ".join(t for t in texts if t)))
    return cpu / audio, wer(pairs)


async def latency(options: dict[str, str], sentences: list[str]) -> list[float]:
    loop = asyncio.get_running_loop()
    provider = PocketsphinxProvider(options)
    backend = ProcessBackend(
        "glasscloud.asr.pocketsphinx:PocketsphinxProvider", provider, options, 1, loop
    )
    finals: asyncio.Queue[float] = asyncio.Queue()

    def deliver(data: dict) -> None:
        if data["isFinal"]:
            finals.put_nowait(time.monotonic())

    hub = TranscriptionHub("bench", deliver, lambda *_: None, backend, LoopClock())
    hub.languages_changed({"transcription:en-US"})
    # warm-up: start the worker and load the model outside the measurement
    hub.vad(True)
    for frame in frames(synthesize("good morning everyone")):
        hub.audio(frame)
    hub.vad(False)
    await asyncio.wait_for(finals.get(), 60)
    results = []
    for sentence in sentences:
        hub.vad(True)
        start = loop.time()
        for index, frame in enumerate(frames(silence(0.2) + synthesize(sentence))):
            hub.audio(frame)
            await asyncio.sleep(max(0.0, start + (index + 1) * 0.1 - loop.time()))
        ended = time.monotonic()
        hub.vad(False)
        results.append(await asyncio.wait_for(finals.get(), 30) - ended)
        while not finals.empty():
            finals.get_nowait()
    hub.dispose()
    backend.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    args = parser.parse_args()
    sentences = list(SENTENCES[: args.sentences])
    print(f"{len(sentences)} espeak-ng sentences, 16 kHz, 100 ms frames")
    print(f"{'provider':42} {'RTF':>6} {'WER':>6} {'lat p50':>8} {'lat max':>8} {'users/core':>10}")
    for name, options in CONFIGS.items():
        rtf, error_rate = rtf_and_wer(options, sentences)
        lat = asyncio.run(latency(options, sentences))
        print(
            f"{name:42} {rtf:6.3f} {error_rate:6.3f} {statistics.median(lat):7.2f}s "
            f"{max(lat):7.2f}s {1 / rtf:10.1f}"
        )
    print("vosk: recognition runs on the Vosk server; see its own benchmarks")


if __name__ == "__main__":
    main()
