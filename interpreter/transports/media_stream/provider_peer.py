"""A loopback provider: plays Twilio's, SignalWire's, Telnyx's or the
softphone's role on a media stream, in real time.

It streams the caller's audio (20 ms frames from a PCM16 array at the
stream's rate, then silence, as a provider does), "plays" what callkernel
sends at 20 ms a frame and acknowledges each mark when the audio queued
before it has been played, honours `clear` as Twilio documents it (drops
the queued audio and acknowledges the pending marks at once), and can
reorder or drop inbound frames, press a key, stop, go quiet, or drop the
socket mid-call.

The tests play providers with it, and `callkernel demo --phone` plays the
caller's phone company (commands/demo_phone.py, which decides what the
caller says frame by frame through `caller_frame`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType

import aiohttp
import numpy as np

from interpreter.media import frames
from interpreter.media.playout import Samples
from interpreter.media.ports import AudioFormat
from interpreter.transports.media_stream.dialects import Dialect
from interpreter.transports.media_stream.events import (
    CallNamed,
    Clear,
    Connected,
    Dtmf,
    MarkAcked,
    Media,
    OutboundMark,
    OutboundMedia,
    ProtocolError,
    ProviderError,
    Started,
    Stopped,
)

FRAME_S = 0.020


@dataclass
class PeerScript:
    """What the provider does, in seconds from `start`."""

    caller: Samples  # the caller's audio at the stream's rate, from `start` on
    parameters: dict[str, str] = field(default_factory=dict)
    swap_pairs: bool = False  # send each pair of frames in reverse order
    lose: frozenset[int] = frozenset()  # chunk numbers never sent
    digits: tuple[tuple[float, str], ...] = ()  # (at, digit)
    errors: tuple[tuple[float, str, str], ...] = ()  # (at, code, detail): Telnyx's `error`
    stop_at: float | None = None  # send `stop`, then close
    drop_at: float | None = None  # close the socket without a `stop`
    quiet_at: float | None = None  # stop sending media, keep the socket open
    longest: float = 20.0  # give up after this long, whatever happens


@dataclass
class Played:
    """What the peer heard and did."""

    audio: list[Samples] = field(default_factory=list)  # frames played, at the stream rate
    marks_acked: list[str] = field(default_factory=list)  # in order, as played
    # The marks acknowledged before each clear arrived (a copy per clear).
    acked_before_clear: list[list[str]] = field(default_factory=list)
    marks_cleared: list[str] = field(default_factory=list)  # acknowledged because of a clear
    clears: int = 0
    problems: list[str] = field(default_factory=list)
    frames_sent: int = 0
    closed_by_server: bool = False
    named_call: str | None = None  # the call id a `call` message named (callkernel dialect)


class ProviderPeer:
    def __init__(self, dialect: Dialect, fmt: AudioFormat, script: PeerScript, *,
                 stream_id: str = "MZ0001", call_id: str = "CA0001") -> None:
        self.dialect, self.format, self.script = dialect, fmt, script
        self.stream_id, self.call_id = stream_id, call_id
        self.played = Played()
        self._queue: deque[bytes | str] = deque()  # frames to play, and marks after them
        self._sequence = 0
        self._caller: Samples | None = None  # the script's audio, a frame a row

    async def run(self, url: str, headers: dict[str, str] | None = None) -> Played:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(url, headers=headers) as ws:
            await self._send(ws, Connected("1.0.0"))
            await self._send(ws, Started(
                self.stream_id, self.call_id, self.format,
                MappingProxyType(dict(self.script.parameters)), account_id="AC0001",
                from_="+15550100001" if self.dialect.naming == "snake" else "",
                to="+15550100002" if self.dialect.naming == "snake" else ""))
            streaming = asyncio.create_task(self._stream(ws))
            playing = asyncio.create_task(self._play(ws))
            receiving = asyncio.create_task(self._receive(ws))
            done, _ = await asyncio.wait({streaming, receiving}, timeout=self.script.longest,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                self.played.problems.append("the server did not end the call in time")
            elif streaming in done and not receiving.done():
                # The peer stopped or dropped the stream: stop reading, then
                # close (no reader may wait while the socket closes).
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
                await ws.close()
            for task in (streaming, playing, receiving):
                task.cancel()
            await asyncio.gather(streaming, playing, receiving, return_exceptions=True)
        return self.played

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, event: object) -> None:
        self._sequence += 1
        await ws.send_str(self.dialect.encode_inbound(event,  # type: ignore[arg-type]
                                                      self.stream_id, self._sequence))

    # ------------------------------------------------------------ inbound, in real time

    async def _stream(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        script, loop = self.script, asyncio.get_running_loop()
        digits = deque(sorted(script.digits))
        errors = deque(sorted(script.errors))
        began, n = loop.time(), 0
        held: tuple[int, bytes] | None = None
        while True:
            n += 1
            await asyncio.sleep(max(0.0, began + n * FRAME_S - loop.time()))
            now = n * FRAME_S
            if script.drop_at is not None and now >= script.drop_at:
                return  # run() closes the socket without a stop
            if script.stop_at is not None and now >= script.stop_at:
                await self._send(ws, Stopped())
                return
            while digits and digits[0][0] <= now:
                await self._send(ws, Dtmf(digits.popleft()[1]))
            while errors and errors[0][0] <= now:
                _, code, detail = errors.popleft()
                await self._send(ws, ProviderError(code, detail))
            if script.quiet_at is not None and now >= script.quiet_at:
                continue
            frame = self.caller_frame(n)
            payload = frames.encode(frame, self.format)
            if n in script.lose:
                continue
            if script.swap_pairs and held is None and n % 2 == 1:
                held = (n, payload)  # goes out after the next one
                continue
            await self._media(ws, n, payload)
            if held is not None:
                await self._media(ws, *held)
                held = None

    def caller_frame(self, n: int) -> Samples:
        """The caller's audio for chunk `n` (from 1): the script's, then
        silence. Called once a chunk, in order, in real time."""
        size = frames.samples_per_frame(self.format.sample_rate)
        if self._caller is None:
            caller = self.script.caller
            self._caller = np.concatenate(
                [caller, np.zeros(-len(caller) % size, np.int16)]).reshape(-1, size)
        return self._caller[n - 1] if n <= len(self._caller) else np.zeros(size, np.int16)

    async def _media(self, ws: aiohttp.ClientWebSocketResponse, chunk: int,
                     payload: bytes) -> None:
        self.played.frames_sent += 1
        await self._send(ws, Media(chunk, (chunk - 1) * 20, payload))

    # ------------------------------------------------------------ outbound, played

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = self.dialect.parse_outbound(message.data)
            match event:
                case OutboundMedia(payload=payload):
                    self._queue.append(payload)
                case OutboundMark(name=name):
                    self._queue.append(name)
                    await self._ack_reached(ws)
                case Clear():
                    self.played.clears += 1
                    self.played.acked_before_clear.append(list(self.played.marks_acked))
                    pending = [item for item in self._queue if isinstance(item, str)]
                    self._queue.clear()
                    for name in pending:  # as Twilio does: the cleared marks come back
                        self.played.marks_cleared.append(name)
                        await self._send(ws, MarkAcked(name))
                case CallNamed(call_id=call_id):
                    self.played.named_call = call_id
                case ProtocolError(what=what):
                    self.played.problems.append(what)
        self.played.closed_by_server = True

    async def _play(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        began, n = loop.time(), 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, began + n * FRAME_S - loop.time()))
            await self._ack_reached(ws)
            if self._queue and isinstance(self._queue[0], bytes):
                payload = self._queue.popleft()
                assert isinstance(payload, bytes)
                self.played.audio.append(frames.decode(payload, self.format).copy())
                await self._ack_reached(ws)

    async def _ack_reached(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Marks at the head of the queue: everything before them has played."""
        while self._queue and isinstance(self._queue[0], str):
            name = self._queue.popleft()
            assert isinstance(name, str)
            self.played.marks_acked.append(name)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(ws, MarkAcked(name))
