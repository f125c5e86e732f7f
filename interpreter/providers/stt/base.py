"""The streaming speech-to-text protocol.

The media path opens a session per utterance when voice activity starts,
feeds it the caller's audio frame by frame (at the provider's sample rate:
the media path resamples), reads partial transcripts as they change, and
asks for the final one when endpointing decides the caller has finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from interpreter.media.ports import ListenSettings


@dataclass(frozen=True, slots=True)
class Recognized:
    text: str
    final: bool
    confidence: float = 1.0


class SttError(Exception):
    """Recognition failed (an stt_error at the call)."""


class SttSession(Protocol):
    def feed(self, samples: npt.NDArray[np.int16]) -> Recognized | None:
        """Take the next audio; a partial transcript when it changed, else None."""

    def finish(self) -> Recognized:
        """The final transcript of the utterance (empty text: nothing recognized)."""

    def close(self) -> None: ...


class SttProvider(Protocol):
    sample_rate: int  # what `feed` takes

    def session(self, settings: ListenSettings) -> SttSession:
        """A recognizer for one utterance, with the call's language and hints."""
        ...
