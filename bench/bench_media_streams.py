"""Concurrent media-stream calls on loopback, the provider in another process:
outbound pacing lag and inbound-to-VAD latency at N calls.

The server runs in this process: an aiohttp app on 127.0.0.1 with the
Twilio media-stream socket (`media_stream_handler` with our own
`StreamOptions`, so the media clock's tick lag can be read) and a
`CallHost` with one speech-recognition worker process (`stt_workers=1`, as
bench_talkers measures it: recognition off the tick). In this process so the
clock and the calls' traces are read directly, with no instrumentation the
server would not have; the sockets still cross loopback to the peer
(bench/media_stream_peer.py), a separate process started per run.

The flow answers and plays one long eSpeak announcement (longer than the
run), so every agent talks throughout: the worst case for outbound pacing.
Its audio is synthesized once and shared by every call, as a cached prompt
would be; the media path resamples it per call. The callers send 20 ms
μ-law frames of silence and, every `period` seconds (staggered; at most
about 20 onsets a second in all, which bounds recognition), a spoken phrase;
VAD runs on every frame of every call, and every phrase is recognized.

Figures per number of calls, over `--seconds` after the ramp and a settle:
- outbound pacing lag: each agent frame's arrival at the peer minus its ideal
  slot (its playout's start + 20 ms x its index; the start placed by the
  earliest-arriving frame, so a late first frame does not hide the rest's
  lateness), p50 / p99 / max;
- inbound-to-VAD: from the peer sending a phrase's first speech frame to the
  call's trace recording `SpeechStarted` (an `event` record; docs/trace.md),
  p50 / p99, and onsets missed (no `SpeechStarted` within 2 s);
- the media clock's tick lag p99, server CPU (this process; the recognition
  worker not included) and the peer's CPU and send lag, so an overloaded
  peer is seen, not blamed on the server.
Then the most calls with pacing lag p99 under one frame (20 ms): from the
measured points, narrowed by a short bisection between the last passing and
the first failing point.

Usage: python bench/bench_media_streams.py [--calls 100 500 1000] [--seconds 20]
       [--search 2] [--quick] [--no-write]
Writes the `bench_media_streams` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import platform
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter import ir
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.media.clock import MediaClock
from interpreter.media.ports import Telephony, Voice
from interpreter.providers.tts import espeak
from interpreter.providers.tts.base import SpeechAudio, TtsProvider
from interpreter.runtime.call import Call
from interpreter.transports.media_stream.channel import MediaStreamChannel
from interpreter.transports.media_stream.server import (
    MakeChannel,
    StreamOptions,
    host_start,
    media_stream_handler,
)

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = ("This is a long announcement from the benchmark agent, read at an even pace "
            "so that every call keeps speaking for the whole run.")
SENTENCE_S = 6.0  # about how long eSpeak takes to say it (more sentences are harmless)
CALLER = "yes please"
CALLER_VOICE = Voice("espeak", "en-us+m3")
ONSETS_PER_SECOND = 20  # across all calls: bounds the recognition work
MIN_PERIOD_S = 10.0
SETTLE_S = 2.0  # after the ramp, before the window
PEER_START_S = 2.0  # the peer's imports, before the first call opens
VAD_LIMIT_S = 2.0  # no SpeechStarted this long after an onset: missed
FRAME_MS = 20.0


def _flow(seconds: float) -> str:
    text = " ".join([SENTENCE] * math.ceil(seconds / SENTENCE_S))
    return f"""
sections:
  main:
    - answer: {{}}
    - play:
        url: "say:{text}"
    - hangup: {{}}
"""


class SharedTts:
    """eSpeak, each text synthesized once and then shared by every call (a
    cached prompt): the benchmark measures streaming, not synthesis."""

    def __init__(self) -> None:
        self._engine = espeak.EspeakTts()
        self._made: dict[tuple[str, Voice | None], list[SpeechAudio]] = {}

    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        return self._engine.voice_for(voice)

    async def warm(self, text: str, voice: Voice | None = None) -> None:
        self._made[(text, voice)] = [audio async for audio in
                                     self._engine.synthesize(text, voice)]

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        if (text, voice) not in self._made:
            await self.warm(text, voice)
        for audio in self._made[(text, voice)]:
            yield audio


class SpeechTimes:
    """A trace sink per call that notes when its trace records `SpeechStarted`,
    and counts final transcripts (recognition did run)."""

    def __init__(self) -> None:
        self.by_call: dict[str, list[float]] = defaultdict(list)
        self.finals = [0]

    def sink(self, call_id: str) -> _SpeechSink:
        return _SpeechSink(self.by_call[call_id], self.finals)


class _SpeechSink:
    def __init__(self, times: list[float], finals: list[int]) -> None:
        self._times, self._finals = times, finals

    def write(self, record: dict[str, Any]) -> None:
        match record.get("event"):
            case "SpeechStarted":
                self._times.append(time.monotonic())
            case "TranscriptReceived" if record.get("final"):
                self._finals[0] += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Point:
    calls: int
    pacing: dict[str, float]  # ms: n, p50, p99, max
    worst_call_p99: float
    vad: dict[str, float]  # ms: n, p50, p99, max
    vad_missed: int
    tick_p99: float  # ms
    tick_max: float
    server_cpu: float  # CPU-seconds per second (1.0: one core busy)
    peer_cpu: float
    peer_send_p99: float  # ms
    opened: int
    calls_started: int
    frames_dropped: int  # media frames the server's writers dropped (socket behind)
    finals: int  # final transcripts the calls' traces recorded (the whole run)

    @property
    def paced(self) -> bool:
        """Pacing lag p99 under one frame, every call opened."""
        return self.pacing["p99"] < FRAME_MS and self.opened == self.calls

    def row(self) -> str:
        return (f"| {self.calls:,} | {self.pacing['p50']:.1f} | {self.pacing['p99']:.1f} | "
                f"{self.pacing['max']:.1f} | {self.vad['p50']:.0f} | {self.vad['p99']:.0f} | "
                f"{int(self.vad['n'])} / {self.vad_missed} | {self.tick_p99:.1f} | "
                f"{self.server_cpu:.2f} | {self.peer_cpu:.2f} | {self.peer_send_p99:.1f} | "
                f"{self.frames_dropped:,} | {self.finals:,} |")


HEADER = ("| calls | pacing lag p50 (ms) | p99 (ms) | max (ms) | inbound→VAD p50 (ms) "
          "| p99 (ms) | onsets / missed | tick lag p99 (ms) | server CPU (cores) "
          "| peer CPU (cores) | peer send lag p99 (ms) | frames dropped | finals |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    if not values_s:
        return {"n": 0, "p50": math.nan, "p99": math.nan, "max": math.nan}
    ms = np.asarray(values_s) * 1000
    return {"n": len(ms), "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max())}


def _vad_latencies(onsets: Sequence[Sequence[float]], numbers: Mapping[str, int],
                   times: SpeechTimes) -> tuple[list[float], int]:
    by_number: dict[int, list[float]] = {}
    for call_id, number in numbers.items():
        by_number[number] = sorted(times.by_call.get(call_id, []))
    latencies, missed = [], 0
    for number, sent in onsets:
        later = [at - sent for at in by_number.get(int(number), []) if at >= sent]
        if later and later[0] <= VAD_LIMIT_S:
            latencies.append(later[0])
        else:
            missed += 1
    return latencies, missed


async def _measure(calls: int, seconds: float, speech_wav: Path) -> Point:
    ramp = max(1.0, calls / 100)  # the calls open at 100 a second
    period = max(MIN_PERIOD_S, calls / ONSETS_PER_SECOND)
    times = SpeechTimes()
    tts = SharedTts()
    flow_text = _flow(PEER_START_S + ramp + SETTLE_S + seconds + 5.0)
    async with CallHost(trace_sinks=times.sink, trace_retain=20, many_calls=True,
                        stt_workers=1) as host:
        flow = host.compile(flow_text.encode(), "bench-media-streams.yaml")
        await tts.warm(_said(flow_text))
        numbers: dict[str, int] = {}
        channels: list[MediaStreamChannel] = []

        async def choose(parameters: Mapping[str, str],
                         details: Mapping[str, JSONValue]) -> ir.CompiledFlow:
            return flow

        plain = host_start(host, choose)

        async def start(parameters: Mapping[str, str], details: dict[str, JSONValue],
                        make_channel: MakeChannel, telephony: Telephony) -> Call:
            def channel(chosen: ir.CompiledFlow) -> MediaStreamChannel:
                channels.append(make_channel(chosen))
                return channels[-1]

            call = await plain(parameters, details, channel, telephony)
            numbers[call.call_id] = int(parameters.get("bench_call", "-1"))
            return call

        clock = MediaClock()
        shared: TtsProvider = tts
        options = StreamOptions(clock, lambda: shared)
        app = web.Application()
        app.router.add_get("/v1/media/twilio", media_stream_handler(
            lambda _: host, start, dialect="twilio", options=options))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port = runner.addresses[0][1]
        t0 = time.monotonic() + PEER_START_S
        window = (t0 + ramp + SETTLE_S, t0 + ramp + SETTLE_S + seconds)
        plan = {"url": f"http://127.0.0.1:{port}/v1/media/twilio", "calls": calls, "t0": t0,
                "ramp": ramp, "window": window, "period": period, "speech": str(speech_wav)}
        peer = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.media_stream_peer", json.dumps(plan), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE)
        await asyncio.sleep(max(0.0, window[0] - time.monotonic()))
        clock.stats.lags.clear()
        cpu = time.process_time()
        await asyncio.sleep(max(0.0, window[1] - time.monotonic()))
        cpu = (time.process_time() - cpu) / seconds
        ticks = list(clock.stats.lags)
        out, _ = await peer.communicate()
        figures = json.loads(out.decode().strip().splitlines()[-1])
        for call in list(host.calls.values()):
            await host.wait(call)
        await runner.cleanup()
    tick = _summary_ms(ticks)
    latencies, missed = _vad_latencies(figures["onsets"], numbers, times)
    # What the channels handed their sockets' writers and the peer never got:
    # dropped by a writer whose socket fell behind.
    dropped = max(0, sum(channel.stats.frames_out for channel in channels)
                  - figures["frames_received"])
    return Point(calls, figures["pacing_ms"], figures["worst_call_p99_ms"],
                 _summary_ms(latencies), missed, tick["p99"], tick["max"], cpu,
                 figures["cpu_s"] / seconds, figures["sender_lag_ms"]["p99"],
                 figures["opened"], len(numbers), dropped, times.finals[0])


def _said(flow_text: str) -> str:
    """The announcement's text, as the play step hands it to speech."""
    line = next(line for line in flow_text.splitlines() if "say:" in line)
    return line.split("say:", 1)[1].rstrip('"')


def _speech_wav(folder: Path) -> Path:
    return espeak.speak_to_wav(CALLER, folder / "caller.wav", CALLER_VOICE, rate=8000)


def _raise_file_limit(calls: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * calls + 256)), hard))


def _search(points: list[Point], seconds: float, steps: int, wav: Path) -> list[Point]:
    """Bisect between the last passing and the first failing number of calls."""
    extra: list[Point] = []
    for _ in range(steps):
        measured = sorted(points + extra, key=lambda point: point.calls)
        passing = [point.calls for point in measured if point.paced]
        failing = [point.calls for point in measured if not point.paced]
        low = max(passing, default=0)
        high = min((n for n in failing if n > low), default=None)
        if high is None or high - low <= max(10, low // 10):
            break
        middle = (low + high) // 2
        extra.append(asyncio.run(_measure(middle, seconds, wav)))
        print(extra[-1].row(), flush=True)
    return extra


def main(argv: Sequence[str] | None = None) -> list[Point]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--search", type=int, default=2,
                        help="bisection steps for the most calls under one frame")
    parser.add_argument("--quick", action="store_true", help="20 calls, 5 s, no search")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.seconds, args.search = [20], 5.0, 0
    _raise_file_limit(max(args.calls))
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as folder:
        wav = _speech_wav(Path(folder))
        points = []
        for calls in args.calls:
            points.append(asyncio.run(_measure(calls, args.seconds, wav)))
            print(points[-1].row(), flush=True)
        searched = _search(points, args.seconds / 2, args.search, wav)
    everything = sorted(points + searched, key=lambda point: point.calls)
    best = max((point.calls for point in everything if point.paced), default=0)
    body = _body(args.seconds, points, searched, best)
    print(body)
    if not args.no_write:
        write_section("bench_media_streams", body)
    return everything


def _body(seconds: float, points: list[Point], searched: list[Point], best: int) -> str:
    rows = [point.row() for point in sorted(points + searched, key=lambda p: p.calls)]
    return "\n".join([
        "## Concurrent media-stream calls on loopback (bench/bench_media_streams.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}, "
        f"2 cores shared by the server, its recognition worker and the peer. The server "
        "(aiohttp, the Twilio media-stream socket, a `CallHost` with one recognition worker) "
        "runs in the benchmark's process; the provider peer is another process on 127.0.0.1 "
        "sending 20 ms μ-law 8 kHz frames in real time. Every agent plays one long eSpeak "
        "announcement throughout (synthesized once, shared); the callers send silence and, "
        "staggered, a spoken phrase (at most ~20 onsets a second in all), every frame through "
        f"VAD, every phrase recognized. {seconds:g} s measured per point after the ramp "
        f"(100 calls/s) and {SETTLE_S:g} s; bisection points run "
        f"{seconds / 2:g} s.",
        "",
        "Pacing lag: an agent frame's arrival at the peer minus its slot (its playout's "
        "start + 20 ms × index, the start placed by its earliest-arriving frame). "
        "Inbound→VAD: the peer sending a phrase's first "
        "speech frame → the call's trace recording `SpeechStarted` (includes the 60 ms "
        "jitter buffer and the VAD's onset window). Server CPU excludes the recognition "
        "worker.",
        "",
        HEADER,
        *rows,
        "",
        f"Most calls with pacing lag p99 under one frame (20 ms): **{best:,}**"
        + (" (of the points measured)." if best else " (none of the points measured)."),
    ])


if __name__ == "__main__":
    main()
