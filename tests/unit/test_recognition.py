"""The transcription hub's rules, driven by a ManualClock and a recording backend (the port
the real worker-process and network backends implement)."""

from __future__ import annotations

from typing import Any

from glasscloud.core.clock import ManualClock
from glasscloud.core.recognition import RecognitionPolicy, TranscriptionHub
from glasscloud.core.transcription import Hypothesis, RecognizerSink

FRAME = bytes(3200)  # 100 ms of 16 kHz 16-bit mono
EN = "transcription:en-US"


class Stream:
    def __init__(self, language: str, sink: RecognizerSink) -> None:
        self.language = language
        self.sink = sink
        self.fed: list[bytes] = []
        self.ends = 0
        self.closed = False

    def feed(self, pcm: bytes) -> None:
        assert not self.closed
        self.fed.append(pcm)

    def end_utterance(self) -> None:
        self.ends += 1

    def close(self) -> None:
        self.closed = True


class Backend:
    name = "fake"

    def __init__(self, languages: tuple[str, ...] = ("en-US", "de-DE")) -> None:
        self.supported = languages
        self.streams: list[Stream] = []
        self.fail_open = False

    def language_for(self, language: str) -> str | None:
        if language == "auto":
            return self.supported[0]
        return language if language in self.supported else None

    def open(self, language: str, sink: RecognizerSink) -> Stream:
        if self.fail_open:
            raise ConnectionError("service unreachable")
        stream = Stream(language, sink)
        self.streams.append(stream)
        return stream


def make(policy: RecognitionPolicy | None = None, backend: Backend | None = None):
    clock = ManualClock()
    backend = backend or Backend()
    delivered: list[dict[str, Any]] = []
    reports: list[tuple[str, str]] = []
    hub = TranscriptionHub(
        "alice",
        delivered.append,
        lambda key, msg: reports.append((key, msg)),
        backend,
        clock,
        policy,
    )
    return hub, backend, clock, delivered, reports


def talk(hub: TranscriptionHub, clock: ManualClock, frames: int) -> None:
    for _ in range(frames):
        hub.audio(FRAME)
        clock.advance(0.1)


def test_no_subscriber_no_recognition():
    hub, backend, clock, _, _ = make()
    talk(hub, clock, 20)
    assert backend.streams == []
    hub.languages_changed({EN})
    hub.languages_changed(set())
    talk(hub, clock, 5)
    assert backend.streams == []


def test_apps_on_one_language_share_one_recogniser_and_auto_maps_to_default():
    hub, backend, clock, _, _ = make()
    hub.languages_changed({EN, "transcription:auto"})
    talk(hub, clock, 3)
    assert len(backend.streams) == 1 and backend.streams[0].language == "en-US"
    assert len(backend.streams[0].fed) == 3
    hub.languages_changed({EN, "transcription:de-DE"})
    hub.audio(FRAME)
    assert sorted(s.language for s in backend.streams) == ["de-DE", "en-US"]


def test_results_become_transcription_data_with_wall_clock_times():
    hub, backend, clock, delivered, _ = make()
    hub.languages_changed({EN})
    start_wall = int(clock.wall() * 1000)
    talk(hub, clock, 10)
    sink = backend.streams[0].sink
    sink.result(Hypothesis("hello", False, 100, 400))
    sink.result(Hypothesis("hello", False, 100, 500))  # same text: not repeated
    sink.result(Hypothesis("hello world", True, 100, 900, confidence=0.8))
    assert [d["text"] for d in delivered] == ["hello", "hello world"]
    interim, final = delivered
    assert interim["isFinal"] is False and final["isFinal"] is True
    assert final["startTime"] == start_wall + 100 and final["endTime"] == start_wall + 900
    assert final["duration"] == 800 and final["confidence"] == 0.8
    assert final["transcribeLanguage"] == "en-US" and final["provider"] == "fake"
    assert final["speakerId"] == "0" and final["type"] == "transcription"
    assert interim["utteranceId"] == final["utteranceId"] == "en-US-1"
    sink.result(Hypothesis("", True, 950, 950))  # nothing said since: no empty caption
    sink.result(Hypothesis("next", False, 1000, 1100))
    assert delivered[-1]["utteranceId"] == "en-US-2"


def test_an_empty_final_still_closes_an_interim_the_app_has_seen():
    hub, backend, clock, delivered, _ = make()
    hub.languages_changed({EN})
    talk(hub, clock, 3)
    sink = backend.streams[0].sink
    sink.result(Hypothesis("uh", False, 0, 200))
    sink.result(Hypothesis("", True, 0, 300))
    assert [(d["text"], d["isFinal"]) for d in delivered] == [("uh", False), ("", True)]


def test_vad_gates_audio_and_ends_the_utterance():
    hub, backend, clock, _, _ = make()
    hub.languages_changed({EN})
    hub.vad(False)
    talk(hub, clock, 5)
    assert backend.streams == []
    hub.vad(True)
    talk(hub, clock, 4)
    stream = backend.streams[0]
    assert len(stream.fed) == 4 and stream.ends == 0
    hub.vad(False)
    assert stream.ends == 1
    talk(hub, clock, 5)
    assert len(stream.fed) == 4


def test_an_audio_gap_ends_the_utterance_and_a_long_one_closes_the_stream():
    policy = RecognitionPolicy(gap_end=0.8, idle_close=5.0)
    hub, backend, clock, _, _ = make(policy)
    hub.languages_changed({EN})
    talk(hub, clock, 5)
    stream = backend.streams[0]
    clock.advance(0.5)
    assert stream.ends == 0
    clock.advance(0.5)
    assert stream.ends == 1 and not stream.closed
    stream.sink.result(Hypothesis("", True, 0, 0))
    clock.advance(5.0)
    assert stream.closed and not hub.is_streaming("en-US")
    talk(hub, clock, 1)
    assert len(backend.streams) == 2 and backend.streams[1].fed == [FRAME]


def test_a_failure_is_reported_and_retried_with_backoff_replaying_the_utterance():
    policy = RecognitionPolicy(retry_base=0.5, retry_cap=4.0)
    hub, backend, clock, delivered, reports = make(policy)
    hub.languages_changed({EN, "transcription:auto"})
    talk(hub, clock, 5)
    first = backend.streams[0]
    first.sink.failed("worker exited")
    assert first.closed
    assert sorted(key for key, _ in reports) == ["transcription:auto", EN]
    assert "worker exited" in reports[0][1] and "Retrying in 0.5 s" in reports[0][1]
    talk(hub, clock, 6)  # the retry fires during this audio
    second = backend.streams[1]
    assert second.fed[:5] == [FRAME] * 5  # the interrupted utterance is replayed first
    assert len(second.fed) >= 8
    # a stale stream's results and failures no longer count
    first.sink.result(Hypothesis("ghost", True, 0, 100))
    assert delivered == []
    # repeated failures back off: 0.5, 1, 2, 4, 4 (capped), never give up
    delays = []
    for _ in range(5):
        reports.clear()
        backend.streams[-1].sink.failed("boom")
        delays.append(reports[0][1].rsplit("in ", 1)[1])
        count = len(backend.streams)
        waited = 0.0
        while len(backend.streams) == count:
            hub.audio(FRAME)
            clock.advance(0.1)
            waited += 0.1
    assert delays == ["1 s.", "2 s.", "4 s.", "4 s.", "4 s."]
    # a result from the new stream resets the backoff
    backend.streams[-1].sink.result(Hypothesis("back", True, 0, 100))
    reports.clear()
    backend.streams[-1].sink.failed("boom")
    assert "Retrying in 0.5 s" in reports[0][1]


def test_the_final_result_of_a_replayed_utterance_has_its_original_times():
    hub, backend, clock, delivered, _ = make(RecognitionPolicy(retry_base=1.0))
    hub.languages_changed({EN})
    start_wall = int(clock.wall() * 1000)
    talk(hub, clock, 10)
    backend.streams[0].sink.failed("crash")
    clock.advance(1.0)
    second = backend.streams[1]
    assert len(second.fed) == 10
    second.sink.result(Hypothesis("said before the crash", True, 200, 900))
    assert delivered[0]["startTime"] == start_wall + 200


def test_a_stream_that_does_not_answer_an_end_of_utterance_counts_as_failed():
    hub, backend, clock, _, reports = make(RecognitionPolicy(answer_timeout=3.0))
    hub.languages_changed({EN})
    talk(hub, clock, 3)
    hub.vad(False)
    clock.advance(2.9)
    assert reports == []
    clock.advance(0.2)
    assert reports and "no answer within 3 s" in reports[0][1]
    assert backend.streams[0].closed


def test_a_backend_that_cannot_open_is_retried():
    backend = Backend()
    backend.fail_open = True
    hub, backend, clock, _, reports = make(RecognitionPolicy(retry_base=0.5), backend)
    hub.languages_changed({EN})
    talk(hub, clock, 2)
    assert "service unreachable" in reports[0][1]
    backend.fail_open = False
    talk(hub, clock, 5)
    assert len(backend.streams) == 1


def test_unsupported_language_is_reported_once_per_subscription():
    hub, backend, clock, _, reports = make()
    hub.languages_changed({"transcription:ja-JP", EN})
    hub.languages_changed({"transcription:ja-JP", EN, "transcription:de-DE"})
    assert [key for key, _ in reports] == ["transcription:ja-JP"]
    assert "No speech recogniser for ja-JP" in reports[0][1]
    talk(hub, clock, 1)
    assert sorted(s.language for s in backend.streams) == ["de-DE", "en-US"]


def test_nobody_left_stops_recognition_and_drops_late_results():
    hub, backend, clock, delivered, _ = make()
    hub.languages_changed({EN})
    talk(hub, clock, 3)
    stream = backend.streams[0]
    hub.languages_changed(set())
    assert stream.closed
    stream.sink.result(Hypothesis("late", True, 0, 100))
    assert delivered == []
    clock.advance(60)
    assert clock.pending == 0


def test_glasses_disconnect_finishes_the_utterance_and_dispose_cleans_up():
    hub, backend, clock, delivered, _ = make()
    hub.languages_changed({EN})
    talk(hub, clock, 3)
    stream = backend.streams[0]
    hub.glasses_disconnected()
    assert stream.closed
    stream.sink.result(Hypothesis("last words", True, 0, 300))  # the flush still counts
    assert delivered[0]["text"] == "last words"
    talk(hub, clock, 1)
    hub.dispose()
    assert all(s.closed for s in backend.streams)
    backend.streams[-1].sink.result(Hypothesis("after", True, 0, 1))
    assert len(delivered) == 1
    clock.advance(60)
    assert clock.pending == 0
