"""Recognition on the tick and in worker processes: the same results through
one interface; a worker's failure is the utterance's, never silence."""

from __future__ import annotations

import asyncio
import functools
import time

import numpy as np

from interpreter.media.clock import MediaClock
from interpreter.media.listening import SpeechListener
from interpreter.media.path import AudioPath
from interpreter.media.ports import ListenSettings
from interpreter.media.recognition import (
    Failed,
    Final,
    InlineRecognizer,
    Partial,
    Recognition,
    Result,
    SttWorkers,
)
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import Vocabulary
from interpreter.providers.vad.webrtc import WebRtcVad
from tests.media.doubles import TenthSecondWords
from tests.media.test_path import Sink
from tests.media.vad_audio import frames, join, silence, speech

RATE = 16_000
PHRASES = ("i want to speak to a person", "transfer me to sales", "cancel my appointment")
VOCABULARY = Vocabulary.of(list(PHRASES))


def _provider() -> functools.partial[PocketsphinxProvider]:
    return functools.partial(PocketsphinxProvider, VOCABULARY, pool_size=1)


def _say(recognition: Recognition, name: str) -> None:
    for frame in frames(join(silence(0.2, RATE), speech(name, RATE), silence(0.3, RATE)),
                        RATE):
        recognition.feed(frame)
    recognition.finish()


async def _until_final(recognition: Recognition, seconds: float = 30.0) -> list[Result]:
    got: list[Result] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += recognition.results()
        if any(isinstance(r, Final | Failed) for r in got):
            return got
        await asyncio.sleep(0.01)
    raise AssertionError(f"no final within {seconds} s: {got}")


def test_on_the_tick_results_are_ready_at_once() -> None:
    recognition = InlineRecognizer(_provider()()).open(ListenSettings())
    _say(recognition, "transfer_me_to_sales.wav")
    results = recognition.results()
    assert any(isinstance(r, Partial) for r in results)
    assert isinstance(results[-1], Final) and results[-1].recognized.text == \
        "transfer me to sales"
    assert recognition.results() == []


def test_workers_recognize_the_same_words_off_the_tick() -> None:
    async def main() -> tuple[list[Result], list[Result]]:
        workers = SttWorkers(processes=2)
        try:
            recognizer = workers.recognizer(VOCABULARY.key, _provider(), RATE)
            first = recognizer.open(ListenSettings())
            second = recognizer.open(ListenSettings())
            _say(first, "transfer_me_to_sales.wav")
            _say(second, "cancel_my_appointment.wav")
            assert first.results() == []  # nothing is decoded on the caller's side
            return await _until_final(first), await _until_final(second)
        finally:
            workers.close()

    first, second = asyncio.run(main())
    assert isinstance(first[-1], Final) and first[-1].recognized.text == "transfer me to sales"
    assert isinstance(second[-1], Final) and \
        second[-1].recognized.text == "cancel my appointment"
    assert first[-1].recognized.confidence > 0.5


def test_a_provider_that_cannot_be_built_fails_the_utterance() -> None:
    async def main() -> list[Result]:
        workers = SttWorkers()
        try:
            broken = functools.partial(int, "not a provider")
            recognizer = workers.recognizer("broken", broken, RATE)  # type: ignore[arg-type]
            recognition = recognizer.open(ListenSettings())
            recognition.feed(np.zeros(320, np.int16))
            recognition.finish()
            return await _until_final(recognition)
        finally:
            workers.close()

    (failed,) = asyncio.run(main())
    assert isinstance(failed, Failed) and "ValueError" in failed.reason


def test_a_worker_that_dies_fails_its_utterances_and_a_new_one_serves_the_next() -> None:
    async def main() -> tuple[list[Result], list[Result]]:
        workers = SttWorkers()
        try:
            recognizer = workers.recognizer(VOCABULARY.key, _provider(), RATE)
            doomed = recognizer.open(ListenSettings())
            doomed.feed(np.zeros(320, np.int16))
            await asyncio.sleep(0.1)
            workers._workers[0].process.kill()
            lost = await _until_final(doomed)
            survivor = recognizer.open(ListenSettings())
            _say(survivor, "transfer_me_to_sales.wav")
            return lost, await _until_final(survivor)
        finally:
            workers.close()

    lost, survivor = asyncio.run(main())
    assert lost == [Failed("the speech recognition worker stopped")]
    assert isinstance(survivor[-1], Final)
    assert survivor[-1].recognized.text == "transfer me to sales"


def test_a_call_listens_through_workers_on_the_wall_clock() -> None:
    audio = join(silence(0.5, RATE), speech("i_want_to_speak_to_a_person.wav", RATE),
                 silence(1.5, RATE))
    inbound = iter(frames(audio, RATE))
    sink = Sink()

    async def main() -> None:
        workers = SttWorkers()
        try:
            recognizer = workers.recognizer(VOCABULARY.key, _provider(), RATE)
            listener = SpeechListener(WebRtcVad(RATE), recognizer, RATE)
            clock = MediaClock()
            path = AudioPath(clock, RATE, TenthSecondWords(), listener,
                             inbound=lambda: next(inbound, None))
            path.attach(sink)
            deadline = time.monotonic() + 30
            while not [s for s in sink.said if s == "i want to speak to a person"] \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            path.hangup("done")
            clock.stop()
            listener.release()
        finally:
            workers.close()

    asyncio.run(main())
    assert sink.onsets == 1
    assert sink.said[-1] == "i want to speak to a person"
