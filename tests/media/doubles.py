"""A TTS double for the media tests: each word is 0.1 s of a constant tone at
22,050 Hz (so its frames are recognisable), one chunk a sentence, with the
word marks a real engine gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from interpreter.media.ports import Voice
from interpreter.providers.tts.base import SpeechAudio, TtsError, WordMark

TONE = 500  # the double's sample value: an agent frame is one that holds it


class TenthSecondWords:
    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        return Voice("espeak", "en-us"), voice is not None and voice.engine == "rime"

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        if "fail" in text:
            raise TtsError("synthesis failed")
        for sentence in text.split(". "):
            offset = text.index(sentence)
            marks, at = [], 0
            for word in sentence.split():
                start = text.index(word, offset)
                marks.append(WordMark(at, start, start + len(word)))
                offset, at = start + len(word), at + 2205
            yield SpeechAudio(np.full(at, TONE, dtype=np.int16), 22_050, tuple(marks))
            await asyncio.sleep(0)
