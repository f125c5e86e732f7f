"""What the call runtime asks of a caller's media path and of telephony.

The runtime drives a transport through `CallerChannel` (what the caller
hears, how to listen, answer, hangup, digits, recording) and `Telephony`
(dialing, bridging and hanging up other legs). A transport reports back
through the sinks the runtime hands it (`CallSink`, `LegSink`); the runtime
turns each report into an event in the call's inbox. Transports never import
the runtime and never touch call state: they only report.

Every media setting a document gives reaches a transport through these types:
`ListenSettings` (endpointing, confidence, hints, language, VAD, noise,
paused), `Utterance` (voice, whether it may be interrupted, volume) and
`BargePolicy` (ir.py, applied by media/barge.py). What a transport cannot
honour it says so in `docs/media.md`.

`MediaStream` is one level lower: the frames, DTMF and marks a network
transport (a telephony media stream, a browser) exchanges; the audio runtime
turns it into a `CallerChannel`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # ir imports this module's types
    from interpreter.ir import BargePolicy

UtteranceKind = Literal["say", "url", "silence", "ring"]


@dataclass(frozen=True, slots=True)
class Voice:
    """A text-to-speech voice: engine, voice name, model and language.

    The document writes it as "engine.voice:model" (languages[].voice) or as
    `say_voice`/`say_language`; an empty field means the transport's default."""

    engine: str = ""
    name: str = ""
    model: str = ""
    language: str = ""

    @classmethod
    def parse(cls, spec: str, language: str = "") -> Voice:
        """"engine.voice:model", "engine.voice", "voice" or ""."""
        spec, _, model = spec.partition(":")
        engine, dot, name = spec.partition(".")
        if not dot:
            engine, name = "", engine
        return cls(engine, name, model, language)

    def __str__(self) -> str:
        voice = f"{self.engine}.{self.name}" if self.engine else self.name
        return f"{voice}:{self.model}" if self.model else voice


# The voice the runtime falls back to for the rest of a call after the flow's
# voice failed (the hosted platform falls back to a default voice the same
# way). Every transport must be able to speak it: the embedded engine's
# default voice.
FALLBACK_VOICE = Voice(engine="callkernel", name="fallback")


@dataclass(frozen=True, slots=True)
class Utterance:
    """One thing to play to the caller: spoken text, a file, silence or ringing."""

    kind: UtteranceKind
    value: str  # text, URL, seconds, or ring country code/duration
    # The voice of a "say" item; None for the transport's default voice.
    voice: Voice | None = None
    # False: the caller's speech does not stop it (static_greeting_no_barge).
    interruptible: bool = True
    volume_db: float = 0.0  # gain, -40..40 (play/prompt `volume`, `ai_volume`)


class FailureKind(enum.Enum):
    SPEECH = "speech"  # speech synthesis failed: a tts_error
    MEDIA = "media"  # a file could not be fetched or decoded: a media_error


@dataclass(frozen=True, slots=True)
class PlayoutFailure:
    """Why a playout stopped: which item failed (its index in the play() call's
    items) and how. Items before it were heard; it and the rest were not."""

    kind: FailureKind
    item: int
    reason: str


@dataclass(frozen=True, slots=True)
class Heard:
    """What the caller actually heard of a playout stopped early."""

    text: str
    words: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """How to listen to the caller: endpointing, recognition and VAD settings
    from the document (ai `params`, the prompt verb, SWAIG actions)."""

    # Trailing silence that ends an utterance (end_of_speech_timeout,
    # prompt speech_end_timeout).
    end_of_speech_ms: int = 700
    # Longest wait for a final transcript once speech stopped (speech_event_timeout).
    speech_event_ms: int = 1400
    # Longest single utterance (speech_timeout).
    speech_timeout_ms: int = 60_000
    # first_word_timeout: how long speech may go on before its first
    # recognized word (the minimum speech duration is vad_config's).
    first_word_ms: int = 1000
    # Transcripts under this confidence are treated as not understood.
    confidence: float = 0.0
    language: str = "en-US"
    hints: tuple[str, ...] = ()  # words and phrases the recognizer should expect
    # The rate the caller's audio arrived at, before it was resampled for the
    # recognizer (8000: telephony, decoded as narrowband). None: the recognizer's.
    source_rate: int | None = None
    energy_level_db: float = 52.0  # the VAD's energy gate
    vad: str = ""  # `vad_config`: "threshold" or "threshold:frame_ms"
    turn_detection_ms: int | None = 250  # None: turn detection off
    # Words are not reported while paused (the caller is on hold).
    paused: bool = False
    # When the caller's speech interrupts what plays (the ai verb's and the
    # prompt verb's policies); None: it does not (a plain play). The audio
    # runtime applies it at the frame; the text runtime decides per event.
    barge: BargePolicy | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """What to record (record / record_call)."""

    format: str = "wav"  # "wav" | "mp3" | "mp4"
    stereo: bool = False
    direction: str = "both"  # "speak" (the caller) | "listen" (what they hear) | "both"
    beep: bool = False  # a tone before recording starts
    max_length_s: float | None = None  # the recording is cut here (None: no limit)
    # A background recording (record_call) also ends with no speech this long
    # from its start, or this long after the caller's speech ended (None: not).
    initial_timeout_s: float | None = None
    end_silence_s: float | None = None


class RecordingFailed(Exception):
    """A recording could not be started (its folder cannot be written):
    a media_error for the record verb, which goes on without it."""


# ------------------------------------------------------------------ reporting


class CallSink(Protocol):
    """Where a transport reports what the caller did."""

    def speech_started(self) -> None: ...
    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None: ...
    def digit(self, digit: str) -> None: ...
    def hung_up(self) -> None: ...
    def closed(self, reason: str) -> None: ...
    def playout_finished(self, playout_id: int) -> None: ...
    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        """The transport stopped this playout itself: it applied the barge-in
        policy at the frame (`cause` "speech", "words" or "noise"). What was
        heard is `heard`; nothing more of the playout will play."""
    def speech_noted(self, note: str) -> None:
        """Something the call's trace should say about its speech: a vendor
        voice spoken with a substitute, word marks that are estimates (said
        once per call and cause), an error a provider reported on its media
        stream."""
    def playout_paused(self, paused: bool, why: str) -> None:
        """The transport paused the agent over the caller's speech while it
        decides whether that is a barge-in (True), or let it go on from where
        it paused (False, with why: a backchannel, no words)."""
    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        """An item could not be played: it and the rest of the playout are
        dropped, nothing more of it plays."""
    def transcription_failed(self, reason: str) -> None:
        """The caller spoke but speech-to-text failed to return words."""


class CallerChannel(Protocol):
    """The runtime's side of the caller's media path."""

    def attach(self, sink: CallSink) -> None:
        """Start reporting to `sink`; called once when the call starts."""

    def answer(self) -> None: ...

    def listen(self, settings: ListenSettings) -> None:
        """Apply these settings from now on (replacing earlier ones)."""

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

    def send_digits(self, digits: str) -> None:
        """Send DTMF to the caller ("w" waits half a second)."""

    def start_recording(self, control_id: str, recording: Recording) -> str:
        """Start recording; the URL the recording will have (RecordingFailed
        when it cannot be made)."""

    def stop_recording(self, control_id: str) -> None: ...

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

    def bridge(self, leg_id: str) -> None:
        """Connect the caller's media with the answered leg's."""

    def hangup(self, leg_id: str) -> None:
        """Hang the leg up (or cancel the dial); `leg_ended` follows."""


# ------------------------------------------------------------------ frames


@dataclass(frozen=True, slots=True)
class AudioFormat:
    # pcm16 is little-endian; pcm16be is L16 as RTP carries it (network order)
    encoding: Literal["pcm16", "pcm16be", "mulaw", "alaw"]
    sample_rate: int  # 8000, 16000, 24000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class InboundFrame:
    """20 ms of the caller's audio, with the transport's sequence number."""

    sequence: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class InboundDigit:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The far end played everything sent before the mark `name`."""

    name: str


@dataclass(frozen=True, slots=True)
class StreamEnded:
    reason: str  # "hangup", "closed", or a transport error


StreamEvent = InboundFrame | InboundDigit | MarkPlayed | StreamEnded


class MediaStream(Protocol):
    """A frame-level media connection (a telephony media stream, a browser).

    Inbound: frames, DTMF and mark acknowledgements, in order. Outbound: one
    frame per media tick, a mark after the frames it follows (at every word
    boundary, so acknowledged marks say exactly what was heard), and `clear`
    to drop what the far end has buffered but not played (barge-in)."""

    @property
    def format(self) -> AudioFormat: ...

    def events(self) -> AsyncIterator[StreamEvent]: ...

    def send_frame(self, payload: bytes) -> None: ...

    def send_mark(self, name: str) -> None: ...

    def clear(self) -> None: ...

    async def close(self, reason: str) -> None: ...
