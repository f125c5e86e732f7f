"""The provider side of bench/bench_media_streams.py, in a process of its own:
N Twilio media streams (μ-law, 8 kHz) to the server under test, in real time.

Run as `python -m bench.media_stream_peer '<plan JSON>'`; it prints one line
of JSON (the figures below) when done. Times are `time.monotonic()`, which
is the machine's CLOCK_MONOTONIC, so they compare with the server process's.

- Opens the calls evenly over `ramp` seconds from `t0` (`start` carries the
  custom parameter `bench_call`: the call's number).
- One sender loop, on an absolute 20 ms grid, sends every open call's next
  frame: silence, or the caller's speech (an eSpeak WAV) from each of the
  call's onsets (every `period` seconds, calls staggered evenly across it).
  The moment each onset's first speech frame is sent is recorded.
- A reader per socket records the arrival time of each outbound media
  frame, acknowledges each mark as it arrives (a provider acknowledges once
  the audio before it has played; here the agent's words are not checked),
  and notes each `clear` (a new playout follows).
- Outbound pacing lag of a frame: its arrival minus its ideal slot, its
  playout's start plus 20 ms x its index in the playout (the start placed
  by the playout's earliest-arriving frame). A playout ends at a `clear`
  or at a gap of more than `GAP_S` in the agent's audio (it stopped talking).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpreter.media import frames
from interpreter.media.ports import AudioFormat
from interpreter.transports.media_stream.dialects import DIALECTS
from interpreter.transports.media_stream.events import (
    Clear,
    Connected,
    MarkAcked,
    Media,
    OutboundMark,
    OutboundMedia,
    Started,
    Stopped,
)

FORMAT = AudioFormat("mulaw", 8000)
DIALECT = DIALECTS["twilio"]
FRAME_S = 0.020
GAP_S = 0.5  # no agent audio this long: the playout ended (25 frames)
TAIL_S = 0.5  # after the window, before `stop`


@dataclass(frozen=True, slots=True)
class Plan:
    url: str
    calls: int
    t0: float  # monotonic time the first call opens
    ramp: float  # seconds over which the calls open
    window: tuple[float, float]  # monotonic start and end of the measurement
    period: float  # seconds between one caller's onsets
    speech: str  # WAV of the caller's speech, 8 kHz mono

    @classmethod
    def of(cls, data: dict[str, Any]) -> Plan:
        return cls(data["url"], data["calls"], data["t0"], data["ramp"],
                   tuple(data["window"]), data["period"], data["speech"])  # type: ignore[arg-type]


@dataclass(slots=True)
class Stream:
    number: int
    ws: aiohttp.ClientWebSocketResponse
    next_onset: float
    sequence: int = 0
    chunk: int = 0
    in_speech: int = -1  # the speech frame to send next; -1: silence
    onsets: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)  # arrival index after each clear
    marks: int = 0


def _speech_payloads(path: str) -> list[bytes]:
    audio, rate = soundfile.read(path, dtype="int16")
    if rate != FORMAT.sample_rate:
        raise ValueError(f"{path}: {rate} Hz, wanted {FORMAT.sample_rate}")
    size = frames.samples_per_frame(rate)
    audio = np.concatenate([audio, np.zeros(-len(audio) % size, np.int16)])
    return [frames.encode(chunk, FORMAT) for chunk in audio.reshape(-1, size)]


async def _send(stream: Stream, event: Any) -> None:
    stream.sequence += 1
    await stream.ws.send_str(DIALECT.encode_inbound(event, f"MZ{stream.number:06d}",
                                                    stream.sequence))


async def _open(session: aiohttp.ClientSession, plan: Plan, number: int,
                streams: list[Stream], failures: list[str]) -> None:
    try:
        ws = await session.ws_connect(plan.url, max_msg_size=0, autoping=True)
    except (aiohttp.ClientError, OSError) as error:
        failures.append(f"connect: {error}")
        return
    offset = plan.period * number / plan.calls
    onset = plan.window[0] + offset
    stream = Stream(number, ws, onset)
    await _send(stream, Connected("1.0.0"))
    await _send(stream, Started(f"MZ{number:06d}", f"CA{number:06d}", FORMAT,
                                MappingProxyType({"bench_call": str(number)}),
                                account_id="AC0001"))
    streams.append(stream)
    asyncio.get_running_loop().create_task(_read(stream))


async def _read(stream: Stream) -> None:
    async for message in stream.ws:
        if message.type is not aiohttp.WSMsgType.TEXT:
            continue
        now = time.monotonic()
        event = DIALECT.parse_outbound(message.data)
        match event:
            case OutboundMedia():
                stream.arrivals.append(now)
            case OutboundMark(name=name):
                stream.marks += 1
                try:
                    await _send(stream, MarkAcked(name))
                except (ConnectionError, RuntimeError):
                    return
            case Clear():
                stream.breaks.append(len(stream.arrivals))
            case _:
                pass


async def _run(plan: Plan) -> dict[str, Any]:
    speech = _speech_payloads(plan.speech)
    silence = frames.silence_payload(FORMAT)
    streams: list[Stream] = []
    failures: list[str] = []
    sender_lags: list[float] = []
    cpu: list[float] = []  # process time at the window's start and end
    end = plan.window[1] + TAIL_S
    opening: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.sleep(max(0.0, plan.t0 - time.monotonic()))
        n, opened = 0, 0
        while True:
            n += 1
            due = plan.t0 + n * FRAME_S
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            if now >= end:
                break
            if plan.window[0] <= now < plan.window[1]:
                sender_lags.append(now - due)
                if not cpu:
                    cpu.append(time.process_time())
            elif now >= plan.window[1] and len(cpu) == 1:
                cpu.append(time.process_time())
            # Open the calls due by now (evenly over the ramp).
            wanted = plan.calls if now >= plan.t0 + plan.ramp else \
                min(plan.calls, int(plan.calls * (now - plan.t0) / plan.ramp) + 1)
            while opened < wanted:
                opening.append(loop.create_task(_open(session, plan, opened, streams,
                                                      failures)))
                opened += 1
            for stream in list(streams):
                if stream.ws.closed:
                    continue
                if stream.in_speech < 0 and now >= stream.next_onset:
                    stream.in_speech = 0
                    stream.onsets.append(time.monotonic())
                    stream.next_onset += plan.period
                if stream.in_speech >= 0:
                    payload = speech[stream.in_speech]
                    stream.in_speech += 1
                    if stream.in_speech == len(speech):
                        stream.in_speech = -1
                else:
                    payload = silence
                stream.chunk += 1
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await _send(stream, Media(stream.chunk, (stream.chunk - 1) * 20, payload))
        await asyncio.gather(*opening, return_exceptions=True)
        closed_early = sum(1 for stream in streams if stream.ws.closed)
        for stream in streams:
            if not stream.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await _send(stream, Stopped())
        await asyncio.gather(*(stream.ws.close() for stream in streams),
                             return_exceptions=True)
    busy = cpu[1] - cpu[0] if len(cpu) == 2 else float("nan")
    return _figures(plan, streams, failures, sender_lags, closed_early, busy)


def _pacing_lags(stream: Stream, window: tuple[float, float]) -> list[float]:
    """Each outbound frame's lateness against its playout's 20 ms grid, for the
    frames that arrived in the window. The grid is placed by the playout's
    earliest-arriving frame (arrival - 20 ms x index at its least), not by
    its first frame alone, whose own lateness would make the rest look early."""
    lags: list[float] = []
    arrivals, breaks = stream.arrivals, set(stream.breaks)
    begin = 0
    for at in range(1, len(arrivals) + 1):
        if at < len(arrivals) and at not in breaks and \
                arrivals[at] - arrivals[at - 1] <= GAP_S:
            continue
        playout = np.asarray(arrivals[begin:at])
        offsets = playout - FRAME_S * np.arange(len(playout))
        late = offsets - offsets.min()
        inside = (playout >= window[0]) & (playout < window[1])
        lags.extend(late[inside].tolist())
        begin = at
    return lags


def _summary(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ms = np.asarray(values_s) * 1000
    return {"n": len(ms), "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max())}


def _figures(plan: Plan, streams: list[Stream], failures: list[str],
             sender_lags: list[float], closed_early: int, cpu_s: float) -> dict[str, Any]:
    lags: list[float] = []
    per_call_p99: list[float] = []
    for stream in streams:
        own = _pacing_lags(stream, plan.window)
        lags.extend(own)
        if own:
            per_call_p99.append(float(np.percentile(own, 99)) * 1000)
    onsets = [[stream.number, at] for stream in streams for at in stream.onsets
              if plan.window[0] <= at < plan.window[1] - 1.0]
    return {
        "opened": len(streams), "failures": failures[:5], "failed": len(failures),
        "closed_early": closed_early,
        "pacing_ms": _summary(lags),
        "worst_call_p99_ms": max(per_call_p99, default=float("nan")),
        "frames_in_window": len(lags),
        "frames_received": sum(len(stream.arrivals) for stream in streams),
        "marks": sum(stream.marks for stream in streams),
        "clears": sum(len(stream.breaks) for stream in streams),
        "onsets": onsets,
        "sender_lag_ms": _summary(sender_lags),
        "cpu_s": cpu_s,  # over the window
    }


def main() -> None:
    plan = Plan.of(json.loads(sys.argv[1]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * plan.calls + 256)),
                                                hard))
    print(json.dumps(asyncio.run(_run(plan))), flush=True)


if __name__ == "__main__":
    main()
