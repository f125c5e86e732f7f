"""Endpointing: when the caller started and stopped speaking, from one voice
decision per 20 ms tick.

`SpeechDetector` puts one call's listening together (the energy gate, its
VAD, the pitch check at onsets and the endpointer): the media path hands it
each inbound frame. The `Endpointer` is a small state machine, pure and
deterministic: no clock, no asyncio; ticks are integers (one per 20 ms frame) and every duration in
`ListenSettings` becomes a whole number of ticks, rounded up. It reports
transitions only, as events:

- `SpeechStarted(at_tick, onset_tick)`: voice lasted the minimum speech
  duration (`vad_config`'s second figure, `VadSettings.min_speech_ms`,
  100 ms by default) with at least `PITCHED_FRAMES` of it pitched, so clicks,
  coughs and hiss do not count. `onset_tick` is the run's first voiced frame,
  `at_tick` the frame that confirmed it: barge-in latency is measured from
  the onset.
- `SpeechEnded(at_tick, ...)`: `end_of_speech_ms` of trailing silence.
- `UtteranceTooLong(at_tick, ...)`: the utterance reached `speech_timeout_ms`
  from its onset; it ends there, and the voice that goes on is ignored until
  `end_of_speech_ms` of silence.
- `TranscriptTimedOut(at_tick, ended_tick)`: no final transcript came
  (`transcribed()`) within `speech_event_ms` after the end. New speech
  cancels the wait; its own end starts a new one.
- `NoiseDetected(at_tick, onset_tick)`: sound above the energy gate for the
  `interrupt_on_noise` time without speech starting (gaps up to
  `NOISE_GAP_TICKS` are bridged), once a run.

New settings (`listen`) apply from the next tick, to what is under way too:
trailing silence already longer than a new `end_of_speech_ms` ends the
utterance on the next tick. `paused` suppresses everything: pausing drops
what was under way without an event, and while paused `feed` reports
nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from interpreter.media.frames import FRAME_MS
from interpreter.media.ports import ListenSettings
from interpreter.media.vad import EnergyGate, Frame, VadSettings, gate_dbfs, level_dbfs, pitched
from interpreter.providers.vad.base import VadProvider

# Unvoiced frames a run of voice may contain and still count toward a start
# (the stops and gaps inside a word).
ONSET_GAP_TICKS = 2
# Voiced frames of a start that must be pitched (a vowel's periodicity),
# when the caller checks pitch at all: hiss and coughs have none.
PITCHED_FRAMES = 2
# Gaps inside a run of noise that do not end it.
NOISE_GAP_TICKS = 3


def ticks(ms: float) -> int:
    """Whole 20 ms ticks covering `ms` (at least one)."""
    return max(1, -(-int(ms) // FRAME_MS))


class EndpointState(enum.Enum):
    QUIET = "quiet"  # no voice, or too little yet to count as speech
    SPEECH = "speech"  # SpeechStarted reported; waiting for trailing silence
    CAPPED = "capped"  # UtteranceTooLong reported; ignoring voice until silence


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_tick: int  # the tick that confirmed it
    onset_tick: int  # the first voiced tick of the run


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    at_tick: int
    onset_tick: int
    last_voice_tick: int


@dataclass(frozen=True, slots=True)
class UtteranceTooLong:
    at_tick: int
    onset_tick: int


@dataclass(frozen=True, slots=True)
class TranscriptTimedOut:
    at_tick: int
    ended_tick: int  # when the utterance ended


@dataclass(frozen=True, slots=True)
class NoiseDetected:
    at_tick: int
    onset_tick: int  # the first loud tick of the run


EndpointEvent = SpeechStarted | SpeechEnded | UtteranceTooLong | TranscriptTimedOut | NoiseDetected


@dataclass(frozen=True, slots=True)
class Timing:
    """`ListenSettings` in ticks."""

    min_speech: int
    pitched: int
    end_of_speech: int
    speech_timeout: int
    speech_event: int
    gate_dbfs: float
    noise: int | None
    paused: bool

    @classmethod
    def of(cls, settings: ListenSettings, noise_ms: int | None) -> Timing:
        min_speech = ticks(VadSettings.parse(settings.vad).min_speech_ms)
        return cls(
            min_speech=min_speech,
            pitched=min(PITCHED_FRAMES, min_speech),
            end_of_speech=ticks(settings.end_of_speech_ms),
            speech_timeout=ticks(settings.speech_timeout_ms),
            speech_event=ticks(settings.speech_event_ms),
            gate_dbfs=gate_dbfs(settings.energy_level_db),
            noise=None if noise_ms is None else ticks(noise_ms),
            paused=settings.paused,
        )


_NONE: tuple[EndpointEvent, ...] = ()


class Endpointer:
    """One call's endpointing: `feed` it every tick, in order."""

    __slots__ = (
        "_ended_tick",
        "_final_due",
        "_gap",
        "_last_voice",
        "_noise_last",
        "_noise_ms",
        "_noise_reported",
        "_noise_start",
        "_onset",
        "_pitched",
        "_settings",
        "_voiced",
        "state",
        "timing",
    )

    def __init__(self, settings: ListenSettings | None = None,
                 noise_ms: int | None = None) -> None:
        self._settings = settings or ListenSettings()
        self._noise_ms = noise_ms
        self.timing = Timing.of(self._settings, noise_ms)
        self._reset()

    def _reset(self) -> None:
        self.state = EndpointState.QUIET
        self._onset = -1  # first voiced tick of the current run, -1 for none
        self._voiced = 0  # voiced ticks in the run
        self._pitched = 0  # of which pitched
        self._gap = 0  # unvoiced ticks since the run's last voiced one
        self._last_voice = -1
        self._final_due: int | None = None
        self._ended_tick = -1
        self._noise_start = -1
        self._noise_last = -1
        self._noise_reported = False

    # ------------------------------------------------------------ settings

    def listen(self, settings: ListenSettings) -> None:
        """Apply new settings from the next tick on."""
        self._settings = settings
        self.timing = Timing.of(settings, self._noise_ms)
        if settings.paused:
            self._reset()

    def interrupt_on_noise(self, noise_ms: int | None) -> None:
        """Report `NoiseDetected` after `noise_ms` of sound without speech (None: never)."""
        self._noise_ms = noise_ms
        self.timing = Timing.of(self._settings, noise_ms)
        self._noise_start, self._noise_reported = -1, False

    @property
    def needs_pitch(self) -> bool:
        """Whether the next voiced frame's pitch matters: only before speech
        has started, so the pitch check costs nothing while the caller talks."""
        return self.state is EndpointState.QUIET

    def transcribed(self) -> None:
        """A final transcript arrived: stop waiting for one."""
        self._final_due = None

    # ------------------------------------------------------------ ticks

    def feed(self, tick: int, voiced: bool, energy_db: float,
             pitched: bool | None = None) -> tuple[EndpointEvent, ...]:
        """One tick: the VAD's decision, the frame's level in dBFS and, for a
        voiced frame, whether it is pitched (None: not checked, counts as
        pitched). The events of the transitions this tick made."""
        timing = self.timing
        if timing.paused:
            return _NONE
        events = _NONE
        if self._final_due is not None and tick >= self._final_due:
            events = (TranscriptTimedOut(tick, self._ended_tick),)
            self._final_due = None
        state = self.state
        if state is EndpointState.QUIET:
            if voiced:
                if self._voiced == 0:
                    self._onset = tick
                self._voiced += 1
                self._pitched += pitched is not False
                self._gap = 0
                if self._voiced >= timing.min_speech and self._pitched >= timing.pitched:
                    return events + self._start(tick)
            elif self._voiced:
                self._gap += 1
                if self._gap > ONSET_GAP_TICKS:
                    self._voiced = self._pitched = 0
            if timing.noise is not None:
                return events + self._noise(tick, energy_db >= timing.gate_dbfs, timing.noise)
            return events
        if voiced:
            self._last_voice = tick
        elif tick - self._last_voice >= timing.end_of_speech:
            if state is EndpointState.SPEECH:
                events += (SpeechEnded(tick, self._onset, self._last_voice),)
                self._await_transcript(tick)
            self._idle()
            return events
        if state is EndpointState.SPEECH and tick - self._onset + 1 >= timing.speech_timeout:
            self.state = EndpointState.CAPPED
            self._await_transcript(tick)
            return (*events, UtteranceTooLong(tick, self._onset))
        return events

    def _start(self, tick: int) -> tuple[EndpointEvent, ...]:
        self.state = EndpointState.SPEECH
        self._last_voice = tick
        self._final_due = None
        self._noise_start, self._noise_reported = -1, False
        return (SpeechStarted(tick, self._onset),)

    def _idle(self) -> None:
        self.state = EndpointState.QUIET
        self._voiced = self._pitched = self._gap = 0

    def _await_transcript(self, tick: int) -> None:
        self._ended_tick = tick
        self._final_due = tick + self.timing.speech_event

    def _noise(self, tick: int, loud: bool, needed: int) -> tuple[EndpointEvent, ...]:
        if loud:
            if self._noise_start < 0 or tick - self._noise_last > NOISE_GAP_TICKS + 1:
                self._noise_start, self._noise_reported = tick, False
            self._noise_last = tick
            if not self._noise_reported and tick - self._noise_start + 1 >= needed:
                self._noise_reported = True
                return (NoiseDetected(tick, self._noise_start),)
        return _NONE


class SpeechDetector:
    """One call's listening: the energy gate and its VAD, the pitch check
    before speech starts, and the endpointer."""

    __slots__ = ("endpointer", "gate")

    def __init__(self, vad: VadProvider, settings: ListenSettings | None = None,
                 noise_ms: int | None = None) -> None:
        settings = settings or ListenSettings()
        self.gate = EnergyGate.from_settings(vad, settings)
        self.endpointer = Endpointer(settings, noise_ms)

    def listen(self, settings: ListenSettings) -> None:
        """Apply new settings from the next frame on."""
        self.gate.listen(settings)
        self.endpointer.listen(settings)

    def hear(self, tick: int, frame: Frame,
             energy_db: float | None = None) -> tuple[EndpointEvent, ...]:
        """One inbound frame; `energy_db` is its level when already measured."""
        endpointer = self.endpointer
        if endpointer.timing.paused:
            return _NONE
        if energy_db is None:
            energy_db = level_dbfs(frame)
        voiced = self.gate.is_speech(frame, energy_db)
        pitch = pitched(frame) if voiced and endpointer.needs_pitch else None
        return endpointer.feed(tick, voiced, energy_db, pitch)
