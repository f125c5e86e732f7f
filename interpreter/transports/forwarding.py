"""A `CallSink` that passes every report on to another: the base of the
simulated callers' sinks, which each watch a few reports on the way (so a
report added to the port is forwarded everywhere by adding it here once)."""

from __future__ import annotations

from interpreter.media.ports import CallSink, Heard, PlayoutFailure


class ForwardingSink:
    def __init__(self, sink: CallSink) -> None:
        self._sink = sink

    def speech_started(self) -> None:
        self._sink.speech_started()

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        self._sink.transcript(text, final, confidence)

    def digit(self, digit: str) -> None:
        self._sink.digit(digit)

    def hung_up(self) -> None:
        self._sink.hung_up()

    def closed(self, reason: str) -> None:
        self._sink.closed(reason)

    def playout_finished(self, playout_id: int) -> None:
        self._sink.playout_finished(playout_id)

    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        self._sink.playout_stopped(playout_id, heard, cause)

    def playout_paused(self, paused: bool, why: str) -> None:
        self._sink.playout_paused(paused, why)

    def speech_noted(self, note: str) -> None:
        self._sink.speech_noted(note)

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self._sink.playout_failed(playout_id, failure)

    def transcription_failed(self, reason: str) -> None:
        self._sink.transcription_failed(reason)
