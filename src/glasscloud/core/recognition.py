"""The transcription hub of one session: which recognisers run, what audio they get, and
what happens when one fails. Sans-I/O: the recognisers themselves sit behind the
`RecognizerBackend` port (glasscloud.asr runs them in worker processes or over the network);
time is the core `Clock`, so every rule below is tested with a `ManualClock`.

Rules:
- one recogniser lane per language that at least one App wants (`transcription:auto` is served
  by the backend's default language), shared by every App that wants it;
- audio is fed only while someone subscribes and, once the glasses have sent `VAD`, only while
  they say speech; the stream opens on the first audio and closes after `idle_close` seconds
  without audio, so no subscriber or no speech costs no recognition;
- `VAD` false or an audio gap of `gap_end` seconds ends the utterance (a final result at once,
  instead of waiting for the recogniser's own endpointing);
- a failed stream (or one that does not answer an end of utterance within `answer_timeout`)
  is reported to the subscribed Apps and reopened after a backoff (`retry_base` doubling up
  to `retry_cap`, for as long as someone subscribes: never a tight loop, never a give-up). The
  audio since the last final result (at most `replay_ms`) is replayed into the new stream, so
  an utterance cut by a crash still gets its final caption;
- result times are wall-clock epoch milliseconds, mapped from the stream's audio position.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from glasscloud.core.clock import Clock, TimerHandle
from glasscloud.core.transcription import (
    Deliver,
    Hypothesis,
    RecognizerBackend,
    RecognizerStream,
    Report,
)
from glasscloud.protocol.glasses import transcription_result

log = logging.getLogger("glasscloud.recognition")

BYTES_PER_MS = 32  # 16 kHz x 16-bit mono
PREFIX = "transcription:"


@dataclass(frozen=True)
class RecognitionPolicy:
    """Timing of the hub, in seconds (milliseconds for `replay_ms`)."""

    gap_end: float = 0.8
    idle_close: float = 15.0
    answer_timeout: float = 10.0
    retry_base: float = 0.5
    retry_cap: float = 30.0
    replay_ms: int = 15_000
    resume_gap: float = 0.3  # a pause longer than this starts a new wall-clock anchor


class _Lane:
    """Everything about one language: its stream, its audio clock, its retry state."""

    def __init__(self, language: str, keys: set[str]) -> None:
        self.language = language
        self.keys = keys
        self.stream: RecognizerStream | None = None
        self.seq = 0
        self.bases: dict[int, int] = {}  # live stream id -> lane position of its audio start
        self.position_ms = 0  # audio fed to this lane so far
        self.anchors: deque[tuple[int, int]] = deque(maxlen=64)  # (position, wall ms)
        self.pending: deque[tuple[int, bytes]] = deque()  # audio since the last final result
        self.pending_ms = 0
        self.last_fed: float | None = None
        self.ended = True  # end_utterance sent since the last audio
        self.failures = 0
        self.utterance = 1
        self.interim_sent = False
        self.last_interim = ""
        self.retry_timer: TimerHandle | None = None
        self.gap_timer: TimerHandle | None = None
        self.answer_timer: TimerHandle | None = None

    def wall_ms(self, position: int) -> int:
        for anchor_pos, anchor_wall in reversed(self.anchors):
            if anchor_pos <= position:
                return anchor_wall + (position - anchor_pos)
        if self.anchors:
            first_pos, first_wall = self.anchors[0]
            return first_wall - (first_pos - position)
        return 0

    def cancel_timers(self) -> None:
        for timer in (self.retry_timer, self.gap_timer, self.answer_timer):
            if timer is not None:
                timer.cancel()
        self.retry_timer = self.gap_timer = self.answer_timer = None


class _Sink:
    """The `RecognizerSink` of one stream: results carry which stream they came from."""

    __slots__ = ("hub", "lane", "seq")

    def __init__(self, hub: TranscriptionHub, lane: _Lane, seq: int) -> None:
        self.hub = hub
        self.lane = lane
        self.seq = seq

    def result(self, hypothesis: Hypothesis) -> None:
        self.hub._result(self.lane, self.seq, hypothesis)

    def failed(self, reason: str) -> None:
        self.hub._failed(self.lane, self.seq, reason)

    def closed(self) -> None:
        self.hub._closed(self.lane, self.seq)


class TranscriptionHub:
    """The session's transcription object (see core.transcription for the interface)."""

    def __init__(
        self,
        user_id: str,
        deliver: Deliver,
        report: Report,
        backend: RecognizerBackend,
        clock: Clock,
        policy: RecognitionPolicy | None = None,
    ) -> None:
        self.user_id = user_id
        self.backend = backend
        self.clock = clock
        self.policy = policy or RecognitionPolicy()
        self._deliver = deliver
        self._report = report
        self._lanes: dict[str, _Lane] = {}
        self._speaking: bool | None = None  # None until the glasses send VAD
        self._refused: set[str] = set()
        self._disposed = False

    @classmethod
    def factory(
        cls, backend: RecognizerBackend, clock: Clock, policy: RecognitionPolicy | None = None
    ) -> Callable[[str, Deliver, Report], TranscriptionHub]:
        """A `TranscriptionFactory` for the session registry."""
        return lambda user_id, deliver, report: cls(
            user_id, deliver, report, backend, clock, policy
        )

    @property
    def languages(self) -> set[str]:
        return set(self._lanes)

    def is_streaming(self, language: str) -> bool:
        lane = self._lanes.get(language)
        return lane is not None and lane.stream is not None

    # ---- the session's calls ---------------------------------------------------------

    def languages_changed(self, keys: set[str]) -> None:
        if self._disposed:
            return
        wanted: dict[str, set[str]] = {}
        for key in keys:
            requested = key[len(PREFIX) :] if key.startswith(PREFIX) else key
            language = self.backend.language_for(requested)
            if language is None:
                if key not in self._refused:
                    self._refused.add(key)
                    self._report(
                        key,
                        f"No speech recogniser for {requested} on this server (provider "
                        f"{self.backend.name}); only transcriptions from the phone will arrive.",
                    )
                continue
            wanted.setdefault(language, set()).add(key)
        self._refused &= keys
        for language in list(self._lanes):
            if language not in wanted:
                self._drop_lane(self._lanes.pop(language))
        for language, lane_keys in wanted.items():
            lane = self._lanes.get(language)
            if lane is None:
                self._lanes[language] = _Lane(language, lane_keys)
            else:
                lane.keys = lane_keys

    def audio(self, pcm: bytes) -> None:
        if not self._lanes or self._speaking is False or self._disposed or not pcm:
            return
        now = self.clock.now()
        wall = int(self.clock.wall() * 1000)
        for lane in self._lanes.values():
            self._feed(lane, pcm, now, wall)

    def vad(self, speaking: bool) -> None:
        self._speaking = speaking
        if not speaking:
            for lane in self._lanes.values():
                self._end_utterance(lane)

    def glasses_disconnected(self) -> None:
        """No audio will come: finish what was said, release the recognisers."""
        self._speaking = None
        for lane in self._lanes.values():
            self._close_stream(lane)

    def dispose(self) -> None:
        self._disposed = True
        for lane in self._lanes.values():
            self._drop_lane(lane)
        self._lanes.clear()

    # ---- feeding ---------------------------------------------------------------------

    def _feed(self, lane: _Lane, pcm: bytes, now: float, wall: int) -> None:
        position = lane.position_ms
        if lane.last_fed is None or now - lane.last_fed > self.policy.resume_gap:
            lane.anchors.append((position, wall))
        lane.pending.append((position, pcm))
        lane.pending_ms += len(pcm) // BYTES_PER_MS
        while lane.pending_ms > self.policy.replay_ms and len(lane.pending) > 1:
            lane.pending_ms -= len(lane.pending.popleft()[1]) // BYTES_PER_MS
        lane.position_ms += len(pcm) // BYTES_PER_MS
        lane.last_fed = now
        lane.ended = False
        if lane.retry_timer is not None:
            return  # waiting to reopen: the audio is kept for the replay
        if lane.stream is None:
            self._open(lane, replay_from=position)
        else:
            lane.stream.feed(pcm)
        if lane.gap_timer is None:
            lane.gap_timer = self.clock.call_later(self.policy.gap_end, lambda: self._tick(lane))

    def _open(self, lane: _Lane, replay_from: int) -> None:
        lane.seq += 1
        seq = lane.seq
        lane.bases[seq] = replay_from
        try:
            stream = self.backend.open(lane.language, _Sink(self, lane, seq))
        except Exception as exc:  # a backend that cannot even start a stream
            log.warning("speech recogniser failed to open: %s", exc, extra={"userId": self.user_id})
            self._failed(lane, seq, str(exc) or type(exc).__name__)
            return
        lane.stream = stream
        for position, chunk in lane.pending:
            if position >= replay_from:
                stream.feed(chunk)

    def _tick(self, lane: _Lane) -> None:
        """Audio gap checks: end the utterance after `gap_end`, close after `idle_close`."""
        lane.gap_timer = None
        if lane.stream is None or lane.last_fed is None or self._disposed:
            return
        idle = self.clock.now() - lane.last_fed
        if idle >= self.policy.idle_close:
            self._close_stream(lane)
            return
        if idle >= self.policy.gap_end:
            self._end_utterance(lane)
        due = (self.policy.idle_close if lane.ended else self.policy.gap_end) - idle
        lane.gap_timer = self.clock.call_later(max(due, 0.01), lambda: self._tick(lane))

    def _end_utterance(self, lane: _Lane) -> None:
        if lane.stream is None or lane.ended:
            return
        lane.ended = True
        lane.stream.end_utterance()
        self._expect_answer(lane)

    def _close_stream(self, lane: _Lane) -> None:
        """Finish the current stream; its last results still count until it says closed."""
        if lane.gap_timer is not None:
            lane.gap_timer.cancel()
            lane.gap_timer = None
        if lane.stream is None:
            return
        stream, lane.stream = lane.stream, None
        lane.ended = True
        stream.close()

    def _drop_lane(self, lane: _Lane) -> None:
        lane.cancel_timers()
        lane.bases.clear()  # nobody wants its results any more
        if lane.stream is not None:
            stream, lane.stream = lane.stream, None
            stream.close()

    # ---- what streams answer ---------------------------------------------------------

    def _live(self, lane: _Lane, seq: int) -> bool:
        return not self._disposed and self._lanes.get(lane.language) is lane and seq in lane.bases

    def _expect_answer(self, lane: _Lane) -> None:
        """A stream asked to finish an utterance must answer (a final result) in time, or it
        counts as failed: a hung recogniser must not end captions silently."""
        if lane.answer_timer is not None:
            lane.answer_timer.cancel()
        seq = lane.seq

        def overdue() -> None:
            lane.answer_timer = None
            if lane.seq == seq and lane.stream is not None:
                self._failed(lane, seq, f"no answer within {self.policy.answer_timeout:g} s")

        lane.answer_timer = self.clock.call_later(self.policy.answer_timeout, overdue)

    def _result(self, lane: _Lane, seq: int, hyp: Hypothesis) -> None:
        if not self._live(lane, seq):
            return
        if seq == lane.seq:
            lane.failures = 0
            if hyp.is_final and lane.answer_timer is not None:
                lane.answer_timer.cancel()
                lane.answer_timer = None
        base = lane.bases[seq]
        start, end = base + hyp.start_ms, base + max(hyp.end_ms, hyp.start_ms)
        text = hyp.text.strip()
        if hyp.is_final:
            self._forget_audio_before(lane, end)
            if not text and not lane.interim_sent:
                return
        elif not text or text == lane.last_interim:
            return
        data = transcription_result(
            text,
            hyp.is_final,
            lane.wall_ms(start),
            lane.wall_ms(end),
            hyp.speaker_id,
            lane.language,
            self.backend.name,
            utterance_id=f"{lane.language}-{lane.utterance}",
            confidence=hyp.confidence,
        )
        if hyp.is_final:
            lane.utterance += 1
            lane.interim_sent = False
            lane.last_interim = ""
        else:
            lane.interim_sent = True
            lane.last_interim = text
        self._deliver(data)

    def _forget_audio_before(self, lane: _Lane, position: int) -> None:
        while lane.pending:
            start, chunk = lane.pending[0]
            if start + len(chunk) // BYTES_PER_MS > position:
                break
            lane.pending.popleft()
            lane.pending_ms -= len(chunk) // BYTES_PER_MS

    def _closed(self, lane: _Lane, seq: int) -> None:
        lane.bases.pop(seq, None)
        if seq == lane.seq and lane.answer_timer is not None:
            lane.answer_timer.cancel()
            lane.answer_timer = None

    def _failed(self, lane: _Lane, seq: int, reason: str) -> None:
        if not self._live(lane, seq):
            return
        del lane.bases[seq]
        if seq != lane.seq:
            return  # an older stream that was already closing
        if lane.stream is not None:
            stream, lane.stream = lane.stream, None
            with contextlib.suppress(Exception):  # the stream is dead anyway
                stream.close()
        lane.cancel_timers()
        lane.failures += 1
        delay = min(self.policy.retry_cap, self.policy.retry_base * 2 ** (lane.failures - 1))
        log.warning(
            "speech recognition failed (%s), retry %d in %.1f s",
            reason,
            lane.failures,
            delay,
            extra={"userId": self.user_id, "language": lane.language},
        )
        for key in sorted(lane.keys):
            self._report(
                key,
                f"Captions for {lane.language} interrupted: speech recognition "
                f"({self.backend.name}) failed: {reason}. Retrying in {delay:g} s.",
            )
        lane.retry_timer = self.clock.call_later(delay, lambda: self._retry(lane))

    def _retry(self, lane: _Lane) -> None:
        lane.retry_timer = None
        if self._disposed or self._lanes.get(lane.language) is not lane or lane.stream:
            return
        if not lane.pending:
            return  # the next audio opens a stream
        self._open(lane, replay_from=lane.pending[0][0])
        if lane.stream is not None and lane.gap_timer is None:
            lane.gap_timer = self.clock.call_later(self.policy.gap_end, lambda: self._tick(lane))
