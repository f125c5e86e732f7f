"""The voice activity detection protocol: one 20 ms frame in, speech or not."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


class VadProvider(Protocol):
    sample_rate: int  # what `is_speech` takes: 8000 or 16000

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        """Whether this 20 ms frame holds voice."""
        ...
