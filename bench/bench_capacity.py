"""Concurrent real-time calls on one media clock, in one process on one core:
every call's audio path listens to every frame (energy gate, webrtcvad,
endpointing) and plays one frame out each tick, with instant providers (the
agent's speech already synthesized, recognition a no-op), on the wall clock.

Half the callers speak (a spoken fixture, looped, with pauses) and half are
silent; every agent talks all the time (barge-in off). Reported for each
number of calls: the tick's lateness (the clock's own record: how long after
its due time each tick began) p50 / p99 / max, the CPU one tick costs, that
as CPU-seconds per second of audio per call, and the resident memory the
calls added, per call (their agent speech is shared, as a cached prompt's
audio would be). The targets (docs/performance.md): 1,000 calls with tick
lag p99 under 20 ms, memory per call at most 1 MB.

Usage: python bench/bench_capacity.py [--calls 250,500,1000] [--seconds 10] [--no-write]
Writes the `bench_capacity` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.ir import Barge, BargePolicy
from interpreter.media.clock import MediaClock
from interpreter.media.listening import SpeechListener
from interpreter.media.path import AudioPath
from interpreter.media.playout import Samples
from interpreter.media.ports import ListenSettings, Utterance, Voice
from interpreter.providers.stt.base import Recognized
from interpreter.providers.tts.base import SpeechAudio
from interpreter.providers.vad.webrtc import WebRtcVad
from tests.media.test_path import Sink
from tests.media.vad_audio import join, silence, speech

RATE = 16_000
FRAME = RATE // 50


class InstantTts:
    """Ten seconds of already-made speech, at once."""

    def __init__(self) -> None:
        self.audio = np.tile(speech("what_are_your_opening_hours.wav", RATE), 6)

    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        return Voice("bench", "instant"), False

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        yield SpeechAudio(self.audio, RATE, ())


class NoSession:
    def feed(self, samples: Samples) -> Recognized | None:
        return None

    def finish(self) -> Recognized:
        return Recognized("hello", True)

    def close(self) -> None:
        pass


class InstantStt:
    sample_rate = RATE

    def session(self, settings: ListenSettings) -> NoSession:
        return NoSession()


def _caller_frames(speaking: bool) -> Samples:
    audio = join(speech("transfer_me_to_sales.wav", RATE), silence(1.5, RATE)) if speaking \
        else silence(1.0, RATE)
    audio = audio[:len(audio) - len(audio) % FRAME]
    return audio.reshape(-1, FRAME)


def _source(frames: Samples, offset: int):  # type: ignore[no-untyped-def]
    position = offset

    def next_frame() -> Samples:
        nonlocal position
        position += 1
        return frames[position % len(frames)]

    return next_frame


def _rss() -> int:
    """The process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _measure(calls: int, seconds: float) -> tuple[list[float], float, float]:
    clock = MediaClock()
    tts, stt = InstantTts(), InstantStt()
    talking, quiet = _caller_frames(True), _caller_frames(False)
    before = _rss()
    paths = []
    for index in range(calls):
        path = AudioPath(clock, RATE, tts, SpeechListener(WebRtcVad(RATE), stt, RATE),
                         inbound=_source(talking if index % 2 else quiet, index * 7))
        path.attach(Sink())
        # Barge-in off: the agents never stop, so both directions stay busy.
        path.listen(ListenSettings(barge=BargePolicy(mode=Barge.OFF)))
        path.play(1, [Utterance("say", "hours")])
        paths.append(path)
    await asyncio.sleep(1.0)  # the speech is queued; warm up
    per_call = (_rss() - before) / calls
    clock.stats.lags.clear()
    cpu = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu
    ticks = len(clock.stats.lags)
    lags = list(clock.stats.lags)
    for path in paths:
        path.hangup("done")
    clock.stop()
    return lags, cpu / max(ticks, 1), per_call


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="250,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rows = []
    for calls in (int(n) for n in args.calls.split(",")):
        lags, tick_cpu, per_call = asyncio.run(_measure(calls, args.seconds))
        ms = sorted(1000 * lag for lag in lags)
        # CPU-seconds per second of audio per call: a tick is 20 ms of audio.
        per_audio_second = tick_cpu / 0.020 / calls
        rows.append(f"| {calls:,} | {ms[len(ms) // 2]:.1f} | {ms[int(len(ms) * 0.99)]:.1f} | "
                    f"{ms[-1]:.1f} | {1000 * tick_cpu:.1f} | {per_audio_second:.4f} | "
                    f"{per_call / 1024:.0f} KB |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## Concurrent audio calls on one core (bench/bench_capacity.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}; "
        f"{args.seconds:g} s each on the wall clock, pinned to one core; every call listens "
        "(gate, webrtcvad, endpointing) and plays every frame; instant providers; half the "
        "callers talk; barge-in off, so every agent talks throughout.",
        "",
        "| calls | tick lag p50 (ms) | p99 (ms) | max (ms) | CPU per tick (ms) "
        "| CPU-s per audio-s per call | memory per call (RSS) |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("bench_capacity", body)


if __name__ == "__main__":
    main()
