"""From what the runtime asks to play (`Utterance`s) to playout segments.

A `play()` becomes one task that makes each item's audio in order — speech
from the TTS provider, streamed sentence by sentence so the first plays
while the rest is made; a file through soundfile; silence; the builtin
ringback and hold tones — resamples it to the path's rate and queues it on
the playout with its words. The task never touches call state: a failure is
reported through `failed`, and the playout reports when the audio has played.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from interpreter.media.playout import Playout, Samples, Segment
from interpreter.media.ports import FailureKind, PlayoutFailure, Utterance
from interpreter.providers.tts.base import SpeechAudio, TtsError, TtsProvider

BUILTIN_RINGBACK = "builtin:ringback"
BUILTIN_HOLD = "builtin:hold"
RING_SECONDS = 6.0  # one ring cadence: 2 s on, 4 s off
MAX_FILE_SECONDS = 900.0


@dataclass
class Speaker:
    playout: Playout
    tts: TtsProvider
    failed: Callable[[int, PlayoutFailure], None]
    substituted: Callable[[str, str], None] = lambda wanted, used: None
    estimated: Callable[[str], None] = lambda voice: None  # a voice's marks are estimates

    def __post_init__(self) -> None:
        self._tasks: dict[asyncio.Task[None], int] = {}  # making audio: its playout id

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        task = asyncio.get_running_loop().create_task(self._make(playout_id, list(items)),
                                                      name=f"speak:{playout_id}")
        self._tasks[task] = playout_id
        task.add_done_callback(self._done)

    def making(self) -> bool:
        """Audio is being made that will be queued."""
        return bool(self._tasks)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    def cancel(self) -> list[int]:
        """Stop making audio (a barge-in, a hangup): nothing more is queued.
        The playouts whose audio was still being made."""
        making = list(self._tasks.values())
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        return making

    async def _make(self, playout_id: int, items: list[Utterance]) -> None:
        rate = self.playout.rate
        if not items:
            self.playout.enqueue(Segment(np.zeros(0, dtype=np.int16), playout_id))
            return
        for index, item in enumerate(items):
            last_item = index == len(items) - 1
            try:
                if item.kind == "say":
                    await self._speak(playout_id, index, item, last_item)
                    continue
                samples = await self._sound(item, rate)
            except TtsError as error:
                self.failed(playout_id, PlayoutFailure(FailureKind.SPEECH, index, str(error)))
                return
            except (OSError, RuntimeError, ValueError, soundfile.LibsndfileError) as error:
                self.failed(playout_id, PlayoutFailure(FailureKind.MEDIA, index,
                                                       f"could not play {item.value}: {error}"))
                return
            self.playout.enqueue(Segment(_gain(samples, item.volume_db), playout_id, index,
                                         last=last_item, interruptible=item.interruptible))

    async def _speak(self, playout_id: int, index: int, item: Utterance, last: bool) -> None:
        used, substituted = self.tts.voice_for(item.voice)
        if substituted and item.voice is not None:
            self.substituted(str(item.voice), str(used))
        # Each sentence plays as soon as it is made; the end of the playout is
        # marked by an empty segment, so no sentence waits for the next.
        async for chunk in self.tts.synthesize(item.value, item.voice):
            if chunk.estimated:
                self.estimated(str(chunk.voice or used))
            self._queue_speech(chunk, item, playout_id, index)
        if last:
            self.playout.enqueue(Segment(np.zeros(0, dtype=np.int16), playout_id, index,
                                         last=True, interruptible=item.interruptible))

    def _queue_speech(self, chunk: SpeechAudio, item: Utterance, playout_id: int,
                      index: int) -> None:
        rate = self.playout.rate
        samples = _resampled(chunk.samples, chunk.rate, rate)
        scale = rate / chunk.rate
        words = tuple((int(mark.sample * scale), item.value[mark.start:mark.end])
                      for mark in chunk.marks)
        loud = _gain(samples, item.volume_db)
        self.playout.enqueue(Segment(loud, playout_id, index, words, last=False,
                                     interruptible=item.interruptible,
                                     ends=sound_ends(loud, [start for start, _ in words])))

    async def _sound(self, item: Utterance, rate: int) -> Samples:
        if item.kind == "silence":
            seconds = min(max(float(item.value or 0), 0.0), MAX_FILE_SECONDS)
            return np.zeros(int(seconds * rate), dtype=np.int16)
        if item.kind == "ring" or item.value == BUILTIN_RINGBACK:
            return ringback(rate)
        if item.value == BUILTIN_HOLD:
            return hold_tone(rate)
        return await asyncio.to_thread(read_file, item.value, rate)


# Under this (-40 dBFS) a sample is the pause after a word, not its sound.
QUIET = 328


def sound_ends(samples: Samples, starts: list[int]) -> tuple[int, ...]:
    """Where each word's sound ends: after its last sample above QUIET before
    the next word's start (a word with none ends at the next start). A word
    the caller heard to its end counts as heard even when the pause after it
    (the end of a sentence) was cut short."""
    bounds = [*starts[1:], len(samples)]
    ends = []
    for start, bound in zip(starts, bounds, strict=True):
        loud = np.flatnonzero(np.abs(samples[start:bound].astype(np.int32)) > QUIET)
        ends.append(start + int(loud[-1]) + 1 if len(loud) else bound)
    return tuple(ends)


def read_file(path: str, rate: int) -> Samples:
    """A local audio file (WAV and whatever libsndfile reads) as mono PCM16 at `rate`."""
    data, file_rate = soundfile.read(path.removeprefix("file://"), dtype="int16",
                                     always_2d=True, frames=int(MAX_FILE_SECONDS * 48_000))
    mono = data.mean(axis=1).astype(np.int16) if data.shape[1] > 1 else data[:, 0]
    return _resampled(mono, int(file_rate), rate)


def _resampled(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    if from_rate == to_rate or not len(samples):
        return samples
    out: Samples = soxr.resample(samples, from_rate, to_rate).astype(np.int16)
    return out


def _gain(samples: Samples, volume_db: float) -> Samples:
    if not volume_db:
        return samples
    factor = math.pow(10.0, max(-40.0, min(40.0, volume_db)) / 20.0)
    out: Samples = np.clip(samples.astype(np.float32) * factor, -32768, 32767).astype(np.int16)
    return out


def _tone(rate: int, frequencies: tuple[float, ...], on: float, off: float,
          level: float = 0.2) -> Samples:
    t = np.arange(int(on * rate)) / rate
    wave = np.zeros(len(t))
    for frequency in frequencies:
        wave += np.sin(2 * np.pi * frequency * t)
    tone = (wave / len(frequencies) * level * 32767).astype(np.int16)
    return np.concatenate([tone, np.zeros(int(off * rate), dtype=np.int16)])


def ringback(rate: int) -> Samples:
    """The North American ringback: 440 + 480 Hz, 2 s on, 4 s off."""
    return _tone(rate, (440.0, 480.0), 2.0, RING_SECONDS - 2.0)


def hold_tone(rate: int) -> Samples:
    """A soft two-note chime every 4 s: the caller on hold never hears dead air."""
    return np.concatenate([_tone(rate, (523.25,), 0.25, 0.05, 0.1),
                           _tone(rate, (659.25,), 0.25, 3.45, 0.1)])
