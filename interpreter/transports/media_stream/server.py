"""The WebSocket endpoint a telephony provider streams a call's media to.

`add_routes(app, host_getter, start_call)` mounts one socket per dialect
(`/v1/media/twilio`, `/v1/media/signalwire`, `/v1/media/telnyx`,
`/v1/media/callkernel`) and `/v1/media`, which tells the dialect from the
`start` message. Per socket: wait for `start` (bounded), then hand
`start_call(custom_parameters, call_details, make_channel, telephony)` what
it needs to start the call — the server's port: it picks the flow (its
routing), records the call and starts it on the host with the channel
`make_channel(flow)` gives (a `MediaStreamChannel` for the flow's
vocabulary); `host_start(host, choose_flow)` is the plain one. Then read
the socket into the channel until the call or the socket ends, and close
both.

Outbound messages go through one writer per socket, in order, never
blocking the media tick; if the socket cannot keep up, media past a small
backlog is dropped (counted) rather than queued without end.

Authentication: with `authorize`, the socket must bring a secret it
accepts, as a bearer token (SignalWire's `authBearerToken`), a `token`
query parameter, or the custom parameter `callkernel_token` (Twilio allows
no query string on a stream URL; its `<Parameter>`s arrive in `start`). The
server's `authorize` takes its API tokens with the `calls` scope; the
secret is never passed on to routing or the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aiohttp import WSMsgType, web

from interpreter import ir
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.media.clock import MediaClock
from interpreter.media.ports import Telephony
from interpreter.providers.stt.vocabulary import vocabulary_for
from interpreter.providers.tts.base import TtsProvider
from interpreter.runtime.call import Call
from interpreter.transports.media_stream.call_control import ProviderCredentials, telephony_for
from interpreter.transports.media_stream.channel import FRAME_GAP_S, MediaStreamChannel
from interpreter.transports.media_stream.dialects import (
    DIALECTS,
    MAX_MESSAGE_CHARS,
    Dialect,
    sniff,
)
from interpreter.transports.media_stream.events import (
    CallNamed,
    Connected,
    OutboundEvent,
    OutboundMedia,
    ProtocolError,
    Started,
    Stopped,
)

LOGGER = logging.getLogger("callkernel.media_stream")
PREFIX = "/v1/media"
START_TIMEOUT = 10.0  # seconds from the upgrade to `start`
# Sockets upgraded but not yet started (nor authenticated) at once; one more
# is refused 503 before the upgrade, so idle sockets cannot pile up.
MAX_WAITING_STARTS = 256
CALL_END_TIMEOUT = 10.0  # seconds the call may take to end once its socket closed
MAX_BACKLOG = 10  # media frames waiting for the socket (200 ms); past it, dropped
TOKEN_PARAMETER = "callkernel_token"

HostGetter = Callable[[web.Request], CallHost]
ChooseFlow = Callable[[Mapping[str, str], Mapping[str, JSONValue]], Awaitable[ir.CompiledFlow]]
MakeChannel = Callable[[ir.CompiledFlow], MediaStreamChannel]
# custom parameters, call details, the channel for a flow, the telephony → the call
StartCall = Callable[[Mapping[str, str], dict[str, JSONValue], MakeChannel, Telephony],
                     Awaitable[Call]]
Authorize = Callable[[str], Awaitable[bool]]  # a secret the socket brought → admitted?
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CallNotStarted(Exception):
    """`start_call` refused the call; `try_later`: the server is full or
    draining (the socket closes with 1013, Try Again Later)."""

    def __init__(self, why: str, *, try_later: bool = False) -> None:
        super().__init__(why)
        self.try_later = try_later


class WaitingStarts:
    """How many sockets wait for their `start`, bounded."""

    def __init__(self, most: int) -> None:
        self.most, self.count = most, 0

    def enter(self) -> bool:
        if self.count >= self.most:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        self.count -= 1


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What every media socket of one app shares."""

    clock: MediaClock
    tts: Callable[[], TtsProvider]
    authorize: Authorize | None = None  # None: every socket is admitted
    frame_gap: float = FRAME_GAP_S
    start_timeout: float = START_TIMEOUT
    # Each dialect's REST credentials, for transfers (call_control.py); none:
    # a dial fails at once and the flow's failure branch runs.
    credentials: Mapping[str, ProviderCredentials] = field(
        default_factory=lambda: MappingProxyType({}))
    waiting: WaitingStarts = field(default_factory=lambda: WaitingStarts(MAX_WAITING_STARTS))



class SocketWriter:
    """Outbound events onto the socket, in order; `send` never blocks."""

    def __init__(self, ws: web.WebSocketResponse, dialect: Dialect, stream_id: str,
                 max_backlog: int = MAX_BACKLOG) -> None:
        self.dropped = 0  # media frames dropped because the socket fell behind
        self._ws, self._dialect, self._stream_id = ws, dialect, stream_id
        self._queue: deque[tuple[str, bool]] = deque()  # text, is media
        self._media = 0
        self._max = max_backlog
        self._wake = asyncio.Event()
        self._closing = False

    def send(self, event: OutboundEvent, *, first: bool = False) -> None:
        """Queue `event` last (or, with `first`, before whatever is queued)."""
        if self._closing:
            return
        media = isinstance(event, OutboundMedia)
        if media:
            if self._media >= self._max:
                self.dropped += 1
                return
            self._media += 1
        encoded = (self._dialect.encode(event, self._stream_id), media)
        if first:
            self._queue.appendleft(encoded)
        else:
            self._queue.append(encoded)
        self._wake.set()

    async def run(self) -> None:
        """Until `close`: what was sent so far goes out, then it returns."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                text, media = self._queue.popleft()
                self._media -= media
                try:
                    await self._ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    self._queue.clear()  # the socket is gone: nothing more can go
                    self._closing = True
            if self._closing:
                return

    def close(self) -> None:
        self._closing = True
        self._wake.set()


def host_start(host: CallHost, choose_flow: ChooseFlow) -> StartCall:
    """The plain `start_call`: the flow `choose_flow` picks, on `host`."""

    async def start(parameters: Mapping[str, str], details: dict[str, JSONValue],
                    make_channel: MakeChannel, telephony: Telephony) -> Call:
        flow = await choose_flow(parameters, details)
        return host.start_call(flow, make_channel(flow), telephony, call_info=details)

    return start


def media_stream_handler(host_getter: HostGetter, start_call: StartCall, *,
                         dialect: str | None = None,
                         options: StreamOptions | None = None) -> Handler:
    """A handler for one media socket; `dialect` None: told from `start`."""
    fixed = DIALECTS[dialect] if dialect is not None else None
    opts = options or StreamOptions(MediaClock(), _espeak)

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=4 * MAX_MESSAGE_CHARS)
        if not ws.can_prepare(request).ok:
            # aiohttp's own refusal reads like a traceback; say it plainly.
            raise web.HTTPBadRequest(text="a media stream connects with a WebSocket "
                                          "handshake (docs/media-streams.md)")
        if not opts.waiting.enter():
            LOGGER.warning("media stream refused: %d sockets already wait for their "
                           "start", opts.waiting.count)
            raise web.HTTPServiceUnavailable(text="too many media streams are starting; "
                                                  "try again", headers={"Retry-After": "1"})
        try:
            await ws.prepare(request)
            header_ok = await _authorized(_offered(request), opts.authorize)
            begun = await asyncio.wait_for(_until_start(ws, fixed), opts.start_timeout)
        except TimeoutError:
            await ws.close(code=1008, message=b"no start message")
            return ws
        finally:
            opts.waiting.leave()
        if begun is None:
            return ws  # the socket closed (or stopped) before the stream started
        spoken, started = begun
        parameters = dict(started.custom_parameters)
        offered = parameters.pop(TOKEN_PARAMETER, "")
        if not header_ok and not await _authorized(offered, opts.authorize):
            await ws.close(code=1008, message=b"unauthorized")
            return ws
        await _run_call(ws, host_getter(request), start_call, spoken, started,
                        MappingProxyType(parameters), opts)
        return ws

    return handler


def add_routes(app: web.Application, host_getter: HostGetter, start_call: StartCall, *,
               prefix: str = PREFIX, authorize: Authorize | None = None,
               frame_gap: float = FRAME_GAP_S,
               tts: Callable[[], TtsProvider] | None = None,
               credentials: Mapping[str, ProviderCredentials] | None = None,
               max_waiting_starts: int = MAX_WAITING_STARTS) -> list[Handler]:
    """Mount the media sockets on `app` (GET `{prefix}/{dialect}` and
    `{prefix}`), sharing one media clock; the handlers mounted."""
    options = StreamOptions(MediaClock(), tts or _espeak, authorize, frame_gap,
                            credentials=MappingProxyType(dict(credentials or {})),
                            waiting=WaitingStarts(max_waiting_starts))
    handlers = []
    for name in (*DIALECTS, None):
        handler = media_stream_handler(host_getter, start_call, dialect=name, options=options)
        app.router.add_get(f"{prefix}/{name}" if name else prefix, handler)
        handlers.append(handler)
    return handlers


# ------------------------------------------------------------------ one socket


async def _until_start(ws: web.WebSocketResponse,
                       fixed: Dialect | None) -> tuple[Dialect, Started] | None:
    """Read until `start`: its dialect and the stream's details; None if the
    socket ended first."""
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            continue
        dialect = fixed or sniff(message.data)
        event = dialect.parse(message.data)
        match event:
            case Started():
                return dialect, event
            case Stopped():
                return None
            case ProtocolError(what=what):
                LOGGER.info("media stream before start: %s", what)
            case Connected():
                pass
            case _:
                pass  # media or marks before start: nothing to feed yet
    return None


async def _run_call(ws: web.WebSocketResponse, host: CallHost, start_call: StartCall,
                    dialect: Dialect, started: Started, parameters: Mapping[str, str],
                    opts: StreamOptions) -> None:
    details = call_details(dialect, started, parameters)
    writer = SocketWriter(ws, dialect, started.stream_id)
    made: list[MediaStreamChannel] = []

    def make_channel(flow: ir.CompiledFlow) -> MediaStreamChannel:
        made.append(MediaStreamChannel(opts.clock, started.format, opts.tts(),
                                       host.recognizer(vocabulary_for(flow)), writer.send,
                                       frame_gap=opts.frame_gap))
        return made[-1]

    try:
        telephony = telephony_for(dialect.name, opts.credentials, started.call_id,
                                  host.http)
        call = await start_call(parameters, details, make_channel, telephony)
    except Exception as error:  # the server's port: any failure ends this socket only
        LOGGER.warning("media stream %s: the call was not started: %s", started.stream_id,
                       error)
        # 1013: try again later (a server draining or full); 1011 otherwise.
        busy = isinstance(error, CallNotStarted) and error.try_later
        await ws.close(code=1013 if busy else 1011, message=b"the call was not started")
        return
    channel = made[-1]
    if dialect.announces_call:
        # Before any audio the call may have queued while it was starting.
        writer.send(CallNamed(call.call_id), first=True)
    writing = asyncio.create_task(writer.run(), name=f"media-writer:{call.call_id}")
    reading = asyncio.create_task(_read(ws, dialect, channel),
                                  name=f"media-reader:{call.call_id}")
    ending = asyncio.create_task(channel.ended.wait())
    reason = "the socket closed without a stop"
    try:
        await asyncio.wait({reading, ending}, return_when=asyncio.FIRST_COMPLETED)
        if reading.done() and not reading.cancelled():
            reason = reading.result()
    finally:
        # However this ends — aiohttp cancels the handler when the client's
        # connection goes — the call hears of it (a no-op once it has ended
        # or the stream stopped).
        channel.socket_closed(reason)
        for task in (ending, reading):
            task.cancel()
        writer.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(host.wait(call), CALL_END_TIMEOUT)
    await asyncio.gather(writing, reading, ending, return_exceptions=True)
    await ws.close(code=1000, message=b"call ended")
    LOGGER.info("media stream %s (%s) ended: %s; %s", started.stream_id, dialect.name,
                channel.end_reason, channel.stats)


async def _read(ws: web.WebSocketResponse, dialect: Dialect,
                channel: MediaStreamChannel) -> str:
    """Feed the channel until the stream stops or the socket closes; why it ended."""
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            channel.stats.protocol_errors += 1
            continue
        event = dialect.parse(message.data)
        if isinstance(event, ProtocolError):
            channel.stats.protocol_errors += 1
            LOGGER.debug("media stream: %s", event.what)
            continue
        channel.received(event)
        if isinstance(event, Stopped):
            return "the provider stopped the stream"
    return "the socket closed without a stop"


def call_details(dialect: Dialect, started: Started,
                 parameters: Mapping[str, str]) -> dict[str, JSONValue]:
    """The `call` object the flow sees: caller and callee (from the stream, or
    the custom parameters `from`/`to`), and the provider's ids."""
    details: dict[str, JSONValue] = {
        "from": started.from_ or parameters.get("from", ""),
        "to": started.to or parameters.get("to", ""),
        "direction": "inbound", "type": "phone", "provider": dialect.name,
        "provider_call_id": started.call_id, "stream_id": started.stream_id}
    if started.account_id:
        details["provider_account_id"] = started.account_id
    if started.session_id:
        details["provider_session_id"] = started.session_id
    return details


def _offered(request: web.Request) -> str:
    """The secret the upgrade request brought (bearer header, else `?token=`)."""
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        return bearer.removeprefix("Bearer ").strip()
    return request.query.get("token", "")


async def _authorized(offered: str, authorize: Authorize | None) -> bool:
    return authorize is None or (bool(offered) and await authorize(offered))


def _espeak() -> TtsProvider:
    from interpreter.providers.tts.espeak import EspeakTts

    return EspeakTts()
