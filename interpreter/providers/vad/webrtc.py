"""webrtcvad (webrtcvad-wheels), the default VAD: WebRTC's GMM in C, ~5 µs a
20 ms frame at 8 kHz, ~8 µs at 16 kHz.

Its aggressiveness (0 to 3: how readily it calls a frame voice) comes from
the document's `vad_config` threshold (media/vad.py, `VadSettings`). It
keeps a noise model per instance, so a call keeps its own instance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import webrtcvad

from interpreter.media.ports import ListenSettings
from interpreter.media.vad import VadSettings

RATES = (8000, 16000, 32000, 48000)  # what webrtcvad takes; resample 24 kHz first
DEFAULT_AGGRESSIVENESS = 3  # the telephony choice: the fewest noise frames called voice


def aggressiveness(threshold: int | None) -> int:
    """webrtcvad's mode for a `vad_config` threshold (0-100): a quarter of the
    range each, so 0-24 → 0 … 75-100 → 3; None → the default (3)."""
    if threshold is None:
        return DEFAULT_AGGRESSIVENESS
    return min(3, max(0, threshold // 25))


class WebRtcVad:
    """One call's webrtcvad: 10, 20 or 30 ms frames at 8, 16, 32 or 48 kHz."""

    __slots__ = ("_aggressiveness", "_vad", "sample_rate")

    def __init__(self, sample_rate: int = 16000,
                 aggressiveness: int = DEFAULT_AGGRESSIVENESS) -> None:
        if sample_rate not in RATES:
            raise ValueError(f"webrtcvad takes {', '.join(map(str, RATES))} Hz, "
                             f"not {sample_rate}")
        self.sample_rate = sample_rate
        self._vad = webrtcvad.Vad()
        self._aggressiveness = DEFAULT_AGGRESSIVENESS
        self.aggressiveness = aggressiveness

    @classmethod
    def from_settings(cls, settings: ListenSettings, sample_rate: int = 16000) -> WebRtcVad:
        return cls(sample_rate, aggressiveness(VadSettings.parse(settings.vad).threshold))

    @property
    def aggressiveness(self) -> int:
        return self._aggressiveness

    @aggressiveness.setter
    def aggressiveness(self, mode: int) -> None:
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"webrtcvad aggressiveness is 0 to 3, not {mode}")
        self._vad.set_mode(mode)
        self._aggressiveness = mode

    def listen(self, settings: ListenSettings) -> None:
        """Apply a new `vad_config` threshold (a settings change mid-call)."""
        self.aggressiveness = aggressiveness(VadSettings.parse(settings.vad).threshold)

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        return bool(self._vad.is_speech(frame.tobytes(), self.sample_rate))
