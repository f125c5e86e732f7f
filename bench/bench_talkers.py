"""How many callers can speak at once with real speech recognition: the
embedded recognizer (pocketsphinx with a task model) on the media tick,
against the same in a worker process (media/recognition.py `SttWorkers`).

Every caller speaks all the time (a spoken fixture, looped, with pauses, each
caller at its own offset); every utterance is recognized; the agents are
silent (recognition is what is measured). The process running the media
clock is pinned to one core; the worker, when there is one, to another.
Reported for each number of talkers and each way: the tick's lateness p50 /
p99 / max, the media process's CPU per tick, and how many finals came back
right ("transfer me to sales"). The target: tick lag p99 under one frame
(20 ms).

Usage: python bench/bench_talkers.py [--talkers 10,20,40,60] [--seconds 8] [--no-write]
Writes the `bench_talkers` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_capacity import FRAME, RATE, InstantTts, _source
from bench.report import write_section
from interpreter.media.clock import MediaClock
from interpreter.media.listening import SpeechListener
from interpreter.media.path import AudioPath
from interpreter.media.playout import Samples
from interpreter.media.recognition import Recognizer, SttWorkers
from interpreter.providers.stt.base import SttProvider
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import Vocabulary
from interpreter.providers.vad.webrtc import WebRtcVad
from tests.media.test_path import Sink
from tests.media.vad_audio import join, silence, speech

SAID = "transfer me to sales"
VOCABULARY = Vocabulary.of([SAID, "i want to speak to a person", "cancel my appointment",
                            "yes please", "no thanks"])


def _talking() -> Samples:
    audio = join(speech("transfer_me_to_sales.wav", RATE), silence(1.2, RATE))
    audio = audio[:len(audio) - len(audio) % FRAME]
    return audio.reshape(-1, FRAME)


# The machine's cores, read before this process pins itself to the first.
CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]


class Finals(Sink):
    """Counts final transcripts only (partials come many an utterance)."""

    def __init__(self) -> None:
        super().__init__()
        self.finals: list[str] = []

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        if final:
            self.finals.append(text)


async def _measure(talkers: int, seconds: float,
                   workers: SttWorkers | None) -> tuple[list[float], float, int, int]:
    factory = functools.partial(PocketsphinxProvider, VOCABULARY, pool_size=talkers)
    stt: SttProvider | Recognizer = factory() if workers is None else \
        workers.recognizer(VOCABULARY.key, factory, RATE)
    clock = MediaClock()
    talking = _talking()
    sinks, paths = [], []
    for index in range(talkers):
        sink = Finals()
        path = AudioPath(clock, RATE, InstantTts(), SpeechListener(WebRtcVad(RATE), stt, RATE),
                         inbound=_source(talking, index * 13))
        path.attach(sink)
        sinks.append(sink)
        paths.append(path)
    if workers is not None and len(CORES) > 1:
        await asyncio.sleep(0.5)  # the worker has started: give it its own core
        for worker in workers._workers:
            os.sched_setaffinity(worker.process.pid, {CORES[1]})
    await asyncio.sleep(2.0)  # warm up: decoders built, every caller mid-sentence
    before = [len(s.finals) for s in sinks]
    clock.stats.lags.clear()
    cpu = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu
    lags = list(clock.stats.lags)
    finals = [text for s, n in zip(sinks, before, strict=True) for text in s.finals[n:]]
    for path in paths:
        path.hangup("done")
    clock.stop()
    right = sum(1 for text in finals if text == SAID)
    return lags, cpu / max(len(lags), 1), right, len(finals)


def _run(talkers: int, seconds: float, way: str) -> tuple[list[float], float, int, int]:
    async def main() -> tuple[list[float], float, int, int]:
        workers = SttWorkers(processes=1) if way == "worker" else None
        try:
            return await _measure(talkers, seconds, workers)
        finally:
            if workers is not None:
                workers.close()

    return asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talkers", default="10,20,40,60")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CORES[0]})  # the media clock's core
    rows = []
    for talkers in (int(n) for n in args.talkers.split(",")):
        for way in ("on the tick", "worker"):
            lags, tick_cpu, right, finals = _run(talkers, args.seconds, way)
            ms = sorted(1000 * lag for lag in lags)
            rows.append(f"| {talkers} | {way} | {ms[len(ms) // 2]:.1f} | "
                        f"{ms[int(len(ms) * 0.99)]:.1f} | {ms[-1]:.1f} | "
                        f"{1000 * tick_cpu:.1f} | {right} of {finals} |")
            print(rows[-1], flush=True)
    body = "\n".join([
        "## Callers speaking at once, with recognition (bench/bench_talkers.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}, "
        f"{len(CORES)} cores; {args.seconds:g} s each on the wall clock. Every caller "
        "speaks all the time (a 1.5 s phrase, 1.2 s pauses); every utterance is recognized "
        "by the embedded recognizer with a task model, either on the media tick or in one "
        "worker process on a core of its own (`SttWorkers`); the media process is pinned to "
        "one core. CPU is the media process's alone.",
        "",
        "| talkers | recognition | tick lag p50 (ms) | p99 (ms) | max (ms) "
        "| media CPU per tick (ms) | finals right |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("bench_talkers", body)


if __name__ == "__main__":
    main()
