"""Following a call: its trace records fanned out to subscribers, served as
server-sent events (`GET /v1/calls/{id}/events`) and over a WebSocket
(`GET /v1/calls/{id}/ws`).

A subscriber first gets every record the call has so far (from its trace in
memory), then each new record as the call makes it, then an end message; the
stream then closes. The records are the trace's own dicts, already redacted
when they were made (runtime/trace.py), and are serialized in the request's
task, never in the call's actor.

How records reach subscribers: the host's `trace_sinks` factory is wrapped
(`CallEvents.trace_sinks`, composed with the metrics' wrapper) so that a
call's trace sink (a `TappedSink`) hands each record to its `CallFeed`,
which appends it to every subscriber's queue — a deque append and an event set per subscriber,
all the actor ever pays. No gap and no duplicate between the replay and the
live records: the trace appends a record to memory and hands it to its sink
in one synchronous step, and a subscriber takes its replay and joins the feed
in another, so each record is in exactly one of the two.

A queue is bounded (`queue_limit` records not yet sent): a subscriber that
does not keep up is dropped at once with a final `lagged` message naming the
first record it missed (read the rest from `/trace`), so a slow reader costs
the call nothing. A send that stalls for `send_timeout` seconds closes the
connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import WSMsgType, web

from interpreter.runtime.state import CallState
from interpreter.runtime.trace import TappedSink, TraceSink
from interpreter.server.auth import requires
from interpreter.server.calls import CALLS, CallRecord, Phase
from interpreter.server.problems import Problem
from interpreter.server.store import Scope

# Records a subscriber may have waiting: a turn with traced words is a burst
# of a few hundred; past this the reader is not keeping up.
QUEUE_LIMIT = 512
HEARTBEAT_SECONDS = 15.0  # an SSE comment (a WebSocket ping) when nothing else is sent
SEND_TIMEOUT_SECONDS = 30.0
MAX_CLIENT_MESSAGE = 4096  # bytes: a follow socket's client only pings and closes
EVENT_STREAM = "text/event-stream"
# WebSocket close codes: 1000 normal (the call ended); 1013 try again later
# (the reader lagged: it may read /trace and follow again).
WS_ENDED = 1000
WS_LAGGED = 1013

_encode = json.JSONEncoder(default=str, check_circular=False).encode


class MessageType(StrEnum):
    RECORD = "record"
    END = "end"
    LAGGED = "lagged"


@dataclass(frozen=True, slots=True)
class Message:
    """One thing sent to a subscriber: a trace record, or the final end or lagged."""

    type: MessageType
    data: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.type is not MessageType.RECORD

    def sse(self) -> bytes:
        """As a server-sent event; a record's `id` is its `n` (for Last-Event-ID)."""
        event_id = f"id: {self.data['n']}\n" if self.type is MessageType.RECORD else ""
        return f"event: {self.type}\n{event_id}data: {_encode(self.data)}\n\n".encode()

    def ws(self) -> str:
        """As a WebSocket text frame: `{"type": "record", "record": {...}}`, or
        `{"type": "end" | "lagged", ...}`."""
        if self.type is MessageType.RECORD:
            return _encode({"type": "record", "record": self.data})
        return _encode({"type": self.type.value, **self.data})


class Subscription:
    """One subscriber's view of a call: the replay, then a bounded queue of
    live records, then one final message."""

    def __init__(self, replay: Iterable[dict[str, Any]], limit: int) -> None:
        self._replay = deque(replay)
        self._live: deque[Message] = deque()
        self._limit = limit
        self._final: Message | None = None
        self._closed = False
        self._wakeup = asyncio.Event()
        self.feed: CallFeed | None = None  # while it follows a live call

    def offer(self, message: Message) -> bool:
        """Queue a live record; False (and the final `lagged`) if it is full."""
        if len(self._live) >= self._limit:
            self.finish(Message(MessageType.LAGGED, {
                "missed_from": message.data["n"],
                "detail": f"more than {self._limit} records waited to be sent; read "
                          "the rest from the call's trace"}))
            return False
        self._live.append(message)
        self._wakeup.set()
        return True

    def finish(self, message: Message) -> None:
        """The final message, sent once everything queued before it is."""
        if self._final is None:
            self._final = message
            self._wakeup.set()

    def close(self) -> None:
        """The reader has gone (or was never served): nothing more is sent."""
        if self.feed is not None:
            self.feed.subscribers.discard(self)
            self.feed = None
        self._closed = True
        self._replay.clear()
        self._live.clear()
        self._wakeup.set()

    async def next(self, timeout: float | None = None) -> Message | None:
        """The next message; None after `timeout` seconds with nothing to send,
        or once the final message was sent or the reader has gone."""
        while not self._closed:
            if self._replay:
                return Message(MessageType.RECORD, self._replay.popleft())
            if self._live:
                return self._live.popleft()
            if self._final is not None:
                self._closed = True
                return self._final
            self._wakeup.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        return None

    @property
    def done(self) -> bool:
        return self._closed


class CallFeed:
    """The subscribers of one live call."""

    def __init__(self, events: CallEvents, call_id: str) -> None:
        self.events = events
        self.call_id = call_id
        self.subscribers: set[Subscription] = set()
        self.last: dict[str, Any] | None = None

    def publish(self, record: dict[str, Any]) -> None:
        """In the call's actor: queue the record for every subscriber."""
        self.last = record
        if not self.subscribers:
            return
        message = Message(MessageType.RECORD, record)
        lagged = [s for s in self.subscribers if not s.offer(message)]
        for subscription in lagged:
            self.subscribers.discard(subscription)
            subscription.feed = None
            self.events.dropped += 1

    def end(self) -> None:
        last = self.last
        disposition = last.get("disposition") if last and last["kind"] == "call_ended" else None
        message = end_message(self.call_id, disposition, 0 if last is None else last["n"] + 1)
        for subscription in self.subscribers:
            subscription.feed = None
            subscription.finish(message)
        self.subscribers.clear()


class CallEvents:
    """The feeds of one app's calls, and how they are served."""

    def __init__(self, *, queue_limit: int = QUEUE_LIMIT,
                 heartbeat: float = HEARTBEAT_SECONDS,
                 send_timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        if queue_limit < 1:
            raise ValueError(f"queue_limit must be at least 1, not {queue_limit}")
        self.queue_limit = queue_limit
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.dropped = 0  # subscribers dropped for lagging, over the app's life
        self._feeds: dict[str, CallFeed] = {}

    def trace_sinks(self, inner: Callable[[str], TraceSink] | None = None
                    ) -> Callable[[str], TraceSink]:
        """A `CallHost(trace_sinks=...)` factory: each call's records go to its
        feed, then to `inner(call_id)` (none: memory only)."""

        def sink(call_id: str) -> TraceSink:
            feed = self._feeds[call_id] = CallFeed(self, call_id)
            # Closing the sink (the call's trace closed) ends the feed.
            return TappedSink(feed.publish, inner(call_id) if inner is not None else None,
                              lambda: self.ended(call_id))

        return sink

    def ended(self, call_id: str) -> None:
        """The call's trace is closed: end its subscribers. Also called when the
        call has ended, should its trace not have been closed."""
        feed = self._feeds.pop(call_id, None)
        if feed is not None:
            feed.end()

    def following(self, call_id: str) -> int:
        """How many subscribers follow the call now."""
        feed = self._feeds.get(call_id)
        return 0 if feed is None else len(feed.subscribers)

    def follow(self, record: CallRecord, after: int | None = None) -> Subscription:
        """Subscribe to a call: its records so far (those after `after`), then
        live ones, then the end; an ended call's records and the end at once.
        Synchronous, so no record falls between the replay and the feed."""
        trace = record.trace
        assert trace is not None, "a call in memory has its trace"
        replay = (r for r in trace.records if after is None or r["n"] > after)
        subscription = Subscription(replay, self.queue_limit)
        feed = self._feeds.get(record.call_id)
        if feed is not None:
            feed.subscribers.add(subscription)
            subscription.feed = feed
            return subscription
        call = record.call
        if record.phase is Phase.LIVE and call is not None and call.state is not CallState.ENDED:
            raise Problem("conflict", f"call {record.call_id} is live on a host whose "
                                      "trace sinks do not feed this server's events; it "
                                      "cannot be followed")
        ended = trace.of_kind("call_ended")
        disposition = record.entry.disposition or (
            ended[-1].get("disposition") if ended else None)
        subscription.finish(end_message(record.call_id, disposition, trace.count))
        return subscription

    def replay(self, record: CallRecord, records: list[dict[str, Any]],
               after: int | None = None) -> Subscription:
        """An ended call read back from the store: its records, then the end."""
        subscription = Subscription((r for r in records if after is None or r["n"] > after),
                                    self.queue_limit)
        subscription.finish(end_message(record.call_id, record.entry.disposition,
                                        len(records)))
        return subscription


def end_message(call_id: str, disposition: object, records: int) -> Message:
    return Message(MessageType.END, {"call_id": call_id, "disposition": disposition,
                                     "records": records})


EVENTS: web.AppKey[CallEvents] = web.AppKey("events", CallEvents)

routes = web.RouteTableDef()


async def _subscribe(request: web.Request) -> Subscription:
    registry, call_id = request.app[CALLS], request.match_info["call_id"]
    record = registry.live(call_id)
    if record is not None:
        return request.app[EVENTS].follow(record, last_event_id(request))
    stored = await registry.get(call_id)  # NotFound: 404
    lines, _ = await registry.trace_lines(call_id)
    return request.app[EVENTS].replay(stored, [json.loads(line) for line in lines],
                                      last_event_id(request))


def last_event_id(request: web.Request) -> int | None:
    """`Last-Event-ID` (an EventSource reconnecting): resume after that record."""
    text = request.headers.get("Last-Event-ID", "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


@routes.get("/v1/calls/{call_id}/events")
@requires(Scope.READ)
async def call_events(request: web.Request) -> web.StreamResponse:
    """The call's records as server-sent events, then `end`; heartbeat comments
    while it is quiet."""
    subscription = await _subscribe(request)
    events = request.app[EVENTS]
    response = web.StreamResponse(headers={
        "Content-Type": EVENT_STREAM, "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})  # a proxy must pass each event on at once
    try:
        await response.prepare(request)
        while True:
            message = await subscription.next(events.heartbeat)
            if message is None and subscription.done:
                break
            data = b": heartbeat\n\n" if message is None else message.sse()
            async with asyncio.timeout(events.send_timeout):
                await response.write(data)
        await response.write_eof()
    except (ConnectionError, TimeoutError):
        # The reader went away or stopped reading: nothing more to send it.
        if request.transport is not None:
            request.transport.close()
    finally:
        subscription.close()
    return response


@routes.get("/v1/calls/{call_id}/ws")
@requires(Scope.READ)
async def call_websocket(request: web.Request) -> web.WebSocketResponse:
    """The call's records as JSON text frames, then `end`; the server closes."""
    events = request.app[EVENTS]
    # The client has nothing to say but its close: a small message bound.
    socket = web.WebSocketResponse(heartbeat=events.heartbeat, max_msg_size=MAX_CLIENT_MESSAGE)
    subscription = await _subscribe(request)  # an unknown call: 404 first
    if not socket.can_prepare(request).ok:
        subscription.close()
        raise Problem("invalid-request", "this is a WebSocket endpoint: connect with a "
                                         "WebSocket handshake (GET /events serves the same "
                                         "as server-sent events)")
    try:
        await socket.prepare(request)  # 400 when it is not a WebSocket handshake
    except BaseException:
        subscription.close()
        raise
    reader = asyncio.get_running_loop().create_task(_read_until_closed(socket, subscription))
    code, reason = WS_ENDED, b"call ended"
    try:
        while (message := await subscription.next()) is not None:
            async with asyncio.timeout(events.send_timeout):
                await socket.send_str(message.ws())
            if message.type is MessageType.LAGGED:
                code, reason = WS_LAGGED, b"lagged"
        await socket.close(code=code, message=reason)
    except (ConnectionError, TimeoutError):
        pass  # the reader went away or stopped reading
    finally:
        subscription.close()
        reader.cancel()
    return socket


async def _read_until_closed(socket: web.WebSocketResponse,
                             subscription: Subscription) -> None:
    """Read (and ignore) what the client sends, so pings and its close are
    seen; once it closes, stop sending."""
    async for message in socket:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
    subscription.close()
