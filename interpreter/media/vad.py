"""Voice activity in front of the endpointer: an energy gate, any
`VadProvider` behind it, and a pitch check for speech onsets.

The energy gate. SWML's `energy_level` (0-100 dB, default 52) is read as
dB above the floor of the 16-bit range: the gate is at
`energy_level - 100` dBFS, so the default is -48 dBFS, 0 lets everything
through and 100 nothing. A frame whose RMS level is under the gate is
silence without asking the VAD: a silent frame costs one dot product
(~1 µs), or nothing when the media clock has measured all calls' levels at
once (`frames.energy_dbfs`) and passes the level in.

The pitch check. webrtcvad calls coughs, hiss and loud noise voice; a
vowel is periodic, they are not. `pitched` is the peak of the normalised
autocorrelation at pitch lags (70-400 Hz) on the frame decimated to
8 kHz, ~15 µs; the endpointer asks for it only before speech has started
(`Endpointer.needs_pitch`), so it costs nothing while the caller talks.

`vad_config` ("threshold" or "threshold:frame_ms", `VadSettings`): the
threshold (0-100) is the VAD's strictness (webrtcvad's aggressiveness, a
quarter of the range each; silero's probability threshold, as a fraction);
frame_ms is how long voice must last before it counts as speech (the
minimum speech duration, default 100 ms; frames here are always 20 ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from interpreter.media.frames import MIN_DBFS
from interpreter.media.ports import ListenSettings
from interpreter.providers.vad.base import VadProvider

Frame = npt.NDArray[np.int16]

GATE_FLOOR_DB = 100.0  # energy_level 0 is this far under full scale
MIN_SPEECH_MS = 100  # voice shorter than this is a click, not speech
MIN_SPEECH_RANGE = (20, 2000)
PITCH_THRESHOLD = 0.7  # normalised autocorrelation that counts as a pitch

_FULL_SCALE = 32768.0
_FULL_SCALE_DB = 20 * math.log10(_FULL_SCALE)
_PITCH_RATE = 8000
_PITCH_SAMPLES = _PITCH_RATE // 50  # one 20 ms frame at 8 kHz
_LAGS = np.arange(_PITCH_RATE // 400, _PITCH_RATE // 70 + 1)  # 20..114: 400..70 Hz


def gate_dbfs(energy_level: float) -> float:
    """The gate's level in dBFS for SWML's `energy_level` (dB, 0-100)."""
    return min(100.0, max(0.0, energy_level)) - GATE_FLOOR_DB


def level_dbfs(frame: Frame) -> float:
    """RMS level of one frame in dBFS (a full-scale sine reads -3); digital
    silence reads MIN_DBFS. `frames.energy_dbfs` measures many frames at once."""
    as_float = frame.astype(np.float32)
    mean_square = float(np.dot(as_float, as_float)) / max(1, len(frame))
    if mean_square <= 0:
        return MIN_DBFS
    return max(MIN_DBFS, 10 * math.log10(mean_square) - _FULL_SCALE_DB)


def periodicity(frame: Frame) -> float:
    """How periodic a frame is at pitch lags: the peak normalised
    autocorrelation, ~0.9 on a vowel, under 0.6 on noise and coughs."""
    samples = len(frame)
    if samples % _PITCH_SAMPLES:
        raise ValueError(f"a 20 ms frame at 8, 16, 24 or 48 kHz, not {samples} samples")
    if samples == _PITCH_SAMPLES:
        x = frame.astype(np.float32)
    else:  # decimate by summing neighbours: a crude low-pass, enough for pitch
        x = frame.reshape(_PITCH_SAMPLES, -1).sum(axis=1, dtype=np.float32)
    last = _PITCH_SAMPLES - 1
    correlation = np.correlate(x, x, "full")[last + _LAGS[0]:last + _LAGS[-1] + 1]
    energy = np.cumsum(x * x)
    norms = energy[last - _LAGS] * (energy[last] - energy[_LAGS - 1])
    return float((correlation / np.sqrt(norms + 1.0)).max())


def pitched(frame: Frame) -> bool:
    return periodicity(frame) >= PITCH_THRESHOLD


@dataclass(frozen=True, slots=True)
class VadSettings:
    """`vad_config` read: the VAD's strictness and the minimum speech duration."""

    threshold: int | None = None  # 0-100; None: the provider's default
    min_speech_ms: int = MIN_SPEECH_MS

    @classmethod
    def parse(cls, spec: str) -> VadSettings:
        """"threshold" or "threshold:frame_ms"; a part that is not a number,
        or out of range, keeps its default."""
        threshold, _, frame_ms = spec.partition(":")
        return cls(_number(threshold, 0, 100), _number(frame_ms, *MIN_SPEECH_RANGE)
                   or MIN_SPEECH_MS)


def _number(text: str, low: int, high: int) -> int | None:
    try:
        value = round(float(text))
    except (ValueError, OverflowError):
        return None
    return value if low <= value <= high else None


class EnergyGate:
    """A `VadProvider` that asks `vad` only about frames above the gate."""

    __slots__ = ("_mean_square", "_open", "_reset", "_threshold", "vad")

    def __init__(self, vad: VadProvider, threshold_dbfs: float = gate_dbfs(52.0)) -> None:
        self.vad = vad
        self._reset: Callable[[], None] | None = getattr(vad, "reset", None)
        self._open = False  # whether the last frame passed the gate
        self.threshold_dbfs = threshold_dbfs

    @classmethod
    def from_settings(cls, vad: VadProvider, settings: ListenSettings) -> EnergyGate:
        return cls(vad, gate_dbfs(settings.energy_level_db))

    @property
    def threshold_dbfs(self) -> float:
        return self._threshold

    @threshold_dbfs.setter
    def threshold_dbfs(self, dbfs: float) -> None:
        self._threshold = dbfs
        self._mean_square = (_FULL_SCALE * 10 ** (dbfs / 20)) ** 2

    @property
    def sample_rate(self) -> int:
        return self.vad.sample_rate

    def listen(self, settings: ListenSettings) -> None:
        """Apply new settings: the gate's level and, where the provider
        takes them, its own (`listen`)."""
        self.threshold_dbfs = gate_dbfs(settings.energy_level_db)
        listen: Callable[[ListenSettings], None] | None = getattr(self.vad, "listen", None)
        if listen is not None:
            listen(settings)

    def is_speech(self, frame: Frame, energy_db: float | None = None) -> bool:
        """Whether the frame holds voice; `energy_db` is its level when
        already measured (the media clock measures all calls at once)."""
        if energy_db is None:
            as_float = frame.astype(np.float32)
            loud = float(np.dot(as_float, as_float)) >= self._mean_square * len(frame)
        else:
            loud = energy_db >= self._threshold
        if not loud:
            if self._open and self._reset is not None:
                self._reset()  # the VAD's next window starts afresh after the gap
            self._open = False
            return False
        self._open = True
        return self.vad.is_speech(frame)
