"""The protocols between the call runtime and a transport.

The runtime drives a transport through `CallerChannel` (what the caller hears,
answer, hangup) and `Telephony` (dialing other legs). A transport reports back
through the sinks the runtime hands it (`CallSink`, `LegSink`); the runtime
turns each report into an event in the call's inbox. Transports therefore
never import the runtime and never touch call state: they only report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Utterance:
    """One thing to play to the caller: spoken text, a file, silence or ringing."""

    kind: str  # "say" | "url" | "silence" | "ring"
    value: str  # text, URL, seconds, or ring country code/duration
    # The voice for a "say" item; "" is the flow's voice. After a voice fails
    # the runtime retries with FALLBACK_VOICE (the hosted platform falls back
    # to a default voice the same way).
    voice: str = ""


FALLBACK_VOICE = "fallback"
TTS_FAILURE = "tts:"  # the prefix of a playout_failed reason that speech synthesis failed


@dataclass(frozen=True, slots=True)
class Heard:
    """What the caller actually heard of a playout stopped early."""

    text: str
    words: int
    seconds: float


class CallSink(Protocol):
    """Where a transport reports what the caller did."""

    def speech_started(self) -> None: ...
    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None: ...
    def digit(self, digit: str) -> None: ...
    def hung_up(self) -> None: ...
    def closed(self, reason: str) -> None: ...
    def playout_finished(self, playout_id: int) -> None: ...
    def playout_failed(self, playout_id: int, reason: str) -> None:
        """Speech could not be synthesized (or a file played): the rest of the
        playout is dropped, nothing more of it plays. A speech failure's
        reason starts with TTS_FAILURE; any other reason is a media failure."""
    def transcription_failed(self, reason: str) -> None:
        """The caller spoke but speech-to-text failed to return words."""


class CallerChannel(Protocol):
    """The runtime's side of the caller's media path."""

    def attach(self, sink: CallSink) -> None:
        """Start reporting to `sink`; called once when the call starts."""

    def answer(self) -> None: ...

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        """Queue `items`; report `playout_finished(playout_id)` when all have played."""

    def stop_playout(self) -> Heard:
        """Stop playing now (barge-in); what was heard of the current playout."""

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        """Play `url` under the agent's speech (hold music, playback_bg),
        replacing any background already playing; `loops` 0 repeats until
        stopped. Report `playout_finished(playout_id)` when it ends by itself."""

    def stop_background(self) -> None:
        """Stop the background audio now; no report follows."""

    def hangup(self, reason: str) -> None: ...


class LegSink(Protocol):
    """Where a transport reports what happened to a dialed leg."""

    def leg_ringing(self, leg_id: str) -> None: ...
    def leg_answered(self, leg_id: str) -> None: ...
    def leg_failed(self, leg_id: str, reason: str) -> None: ...
    def leg_ended(self, leg_id: str) -> None: ...
    def leg_status(self, leg_id: str, status: str) -> None: ...


class Telephony(Protocol):
    """Dialing and controlling other legs of the call."""

    def dial(self, leg_id: str, destination: str, timeout: float, sink: LegSink) -> None:
        """Start dialing; outcomes arrive on `sink`. A destination that does not
        answer within `timeout` seconds is reported as failed("no_answer")."""

    def query(self, leg_id: str) -> None:
        """Ask for the leg's status; the answer arrives as `leg_status`."""

    def channel(self, leg_id: str) -> CallerChannel:
        """The media path of an answered leg, for a `confirm` section run on it
        before bridging; it reports to its own sink once attached."""

    def hangup(self, leg_id: str) -> None:
        """Hang the leg up (or cancel the dial); `leg_ended` follows."""
