"""The text-to-speech protocol: text and a voice in, audio with word marks out.

Synthesis streams: a provider yields `SpeechAudio` chunks (a clause or a
sentence each) as it makes them, so the first can play while the rest is
still being made. Each chunk carries its word marks: where in the chunk's
samples each word's audio starts, and which characters of the text it
speaks. Playout turns them into marks on the outbound audio, so a barge-in
keeps exactly the words whose audio was played. A provider without word
timings estimates them and says so (`estimated`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from interpreter.media.ports import Voice

Samples = npt.NDArray[np.int16]  # mono PCM16


@dataclass(frozen=True, slots=True)
class WordMark:
    """One word's audio: it starts `sample` samples into its chunk and speaks
    characters [start, end) of the synthesized text."""

    sample: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    samples: Samples
    rate: int
    marks: tuple[WordMark, ...] = ()
    estimated: bool = False  # the marks are an estimate, not the engine's
    voice: Voice | None = field(default=None, compare=False)  # the voice actually used


class TtsError(Exception):
    """Speech could not be synthesized (a tts_error at the call)."""


class TtsProvider(Protocol):
    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        """The voice this engine will use for `voice`, and whether it is a
        substitute (a vendor voice the engine does not have)."""

    def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        """Stream the speech for `text`; raise TtsError when it cannot."""
        ...
