"""What the runtime asks to play becomes playout segments with their words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import soundfile

from interpreter.clock import run_virtual
from interpreter.media.playout import Playout
from interpreter.media.ports import FailureKind, PlayoutFailure, Utterance, Voice
from interpreter.media.speaking import BUILTIN_RINGBACK, Speaker, ringback
from interpreter.providers.tts.base import SpeechAudio, WordMark
from tests.media.doubles import TenthSecondWords

RATE = 16_000


def _run(items: list[Utterance]) -> tuple[Playout, list[int], list[tuple[int, PlayoutFailure]],
                                         list[tuple[str, str]]]:
    finished: list[int] = []
    failures: list[tuple[int, PlayoutFailure]] = []
    notes: list[tuple[str, str]] = []

    async def main() -> Playout:
        playout = Playout(RATE, finished.append)
        speaker = Speaker(playout, TenthSecondWords(), lambda p, f: failures.append((p, f)),
                          lambda wanted, used: notes.append((wanted, used)))
        speaker.play(7, items)
        for _ in range(400):
            await asyncio.sleep(0.02)
            playout.frame()
        return playout

    return run_virtual(main), finished, failures, notes


def test_speech_is_resampled_with_its_words_and_the_playout_finishes() -> None:
    _, finished, failures, notes = _run(
        [Utterance("say", "Hello there. How are you", Voice("rime", "spore"))])
    assert finished == [7] and not failures
    assert notes == [("rime.spore", "espeak.en-us")]


def test_heard_words_come_from_the_marks() -> None:
    async def main() -> str:
        playout = Playout(RATE)
        speaker = Speaker(playout, TenthSecondWords(), lambda p, f: None)
        speaker.play(1, [Utterance("say", "Your table is ready")])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for _ in range(11):  # 0.22 s: two words (0.1 s each) have ended
            playout.frame()
        return playout.stop().text

    assert run_virtual(main) == "Your table"


def test_a_failing_voice_and_a_missing_file_are_typed_failures(tmp_path: Path) -> None:
    _, finished, failures, _ = _run([Utterance("say", "ok"), Utterance("say", "please fail")])
    assert failures == [(7, PlayoutFailure(FailureKind.SPEECH, 1, "synthesis failed"))]
    assert finished == []
    _, _, failures, _ = _run([Utterance("url", str(tmp_path / "missing.wav"))])
    assert failures[0][1].kind is FailureKind.MEDIA and failures[0][1].item == 0


def test_files_and_tones_play_at_the_path_rate(tmp_path: Path) -> None:
    wav = tmp_path / "beep.wav"
    soundfile.write(wav, np.full(8000, 1000, dtype=np.int16), 8000)
    _, finished, failures, _ = _run([Utterance("url", str(wav)),
                                           Utterance("url", BUILTIN_RINGBACK)])
    assert not failures and finished == [7]
    assert len(ringback(RATE)) == 6 * RATE


class SlowSecondSentence:
    """The first sentence comes at once; the second only when released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        return Voice("espeak", "en-us"), False

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        yield SpeechAudio(np.full(2205, 500, dtype=np.int16), 22_050, (WordMark(0, 0, 5),))
        await self.release.wait()
        yield SpeechAudio(np.full(2205, 500, dtype=np.int16), 22_050, (WordMark(0, 7, 12),))


def test_the_first_sentence_plays_before_the_next_is_made() -> None:
    finished: list[int] = []

    async def main() -> tuple[bool, bool]:
        tts = SlowSecondSentence()
        playout = Playout(RATE, finished.append)
        Speaker(playout, tts, lambda p, f: None).play(3, [Utterance("say", "Hello. World")])
        for _ in range(3):
            await asyncio.sleep(0)
        first_plays = bool(np.any(playout.frame() == 500))
        for _ in range(10):
            playout.frame()
        unfinished = not finished
        tts.release.set()
        for _ in range(3):
            await asyncio.sleep(0)
        for _ in range(10):
            playout.frame()
        return first_plays, unfinished

    assert run_virtual(main) == (True, True)
    assert finished == [3]
