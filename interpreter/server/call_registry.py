"""The calls the server runs: started on its `CallHost`, recorded in its store.

A call's record is written to the store before the call starts (so a call
the API acknowledged is never untracked) and completed with its disposition
and trace when it ends. In memory the registry holds the live calls and the
last `KEEP_ENDED` ended ones with their traces (what the events endpoints
replay from); older calls are read from the store.

On start (`running`) the registry records the calls a crash left live as
ended by it (`server_crashed`): one server owns a data directory, so a call
the store says is live and this process does not run has died. On shutdown
(`drain`) it refuses new calls, lets live ones finish up to a deadline, then
ends the rest with a spoken goodbye.

Calls come from REST (a simulated caller following a script: `start`) and
from transports that bring their own channel (a provider's media socket:
`start_on`); both are admitted, recorded and followed the same way. They
run in real time on the server's loop; a virtual-clock call runs on a loop
of its own in a worker thread (server/virtual_calls.py), since a virtual
clock jumps its loop's time for everything on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiohttp import web

from interpreter import ir
from interpreter.flow_parts import has_ai
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import CallerChannel, Telephony
from interpreter.providers.llm.base import LlmProvider
from interpreter.providers.llm.scripted import ScriptedProvider
from interpreter.runtime import events as ev
from interpreter.runtime.state import CallState
from interpreter.runtime.trace import Trace, TraceSink
from interpreter.server import virtual_calls
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.remote_flows import CallFlow
from interpreter.server.store import CallEntry, Store, StoreError
from interpreter.transports.caller_script import CallerScript, call_details
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

if TYPE_CHECKING:
    from interpreter.runtime.call import Call
    from interpreter.transports.audio_caller import AudioCaller

LOGGER = logging.getLogger("callkernel.server.calls")

# Ended calls kept in memory with their traces (what /events replays at once;
# about 40 KB each for a short call); every call is in the store, and older
# ones are read from there.
KEEP_ENDED = 100
CRASHED = "server_crashed"
# What a call still live at the end of a shutdown's drain hears before it ends.
GOODBYE = "Sorry, this service is restarting. Please call again."
# After the goodbye, how long the calls get to end before the server stops
# waiting for them (their hangup is already in their inboxes).
GOODBYE_SECONDS = 10.0

_encode = json.JSONEncoder(default=str, check_circular=False).encode


class Phase(StrEnum):
    """Where a call is in its life, as the API reports and filters it."""

    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call the server ran. While it is live `call` is the running call;
    once it has ended only its trace is kept in memory (`call` is None), and
    a call read back from the store has no trace here (`trace` is None)."""

    entry: CallEntry
    trace: Trace | None
    call: Call | None

    @property
    def call_id(self) -> str:
        return self.entry.call_id

    @property
    def phase(self) -> Phase:
        return Phase.LIVE if self.entry.live else Phase.ENDED

    @property
    def call_state(self) -> str:
        """The runtime's state of the call (ringing, answered, in_ai, ..., ended);
        `unknown` for a live call not on the server's loop (a virtual-clock one)."""
        if self.call is not None:
            return self.call.state.value
        return CallState.ENDED.value if not self.entry.live else "unknown"


@runtime_checkable
class Closable(Protocol):
    async def close(self) -> None: ...


class ShuttingDown(Exception):
    """The server is stopping: it starts no new call."""


class TooManyCalls(Exception):
    """As many calls are live as the server takes (`max_live_calls`)."""


class CallRegistry:
    """The calls of one server: live and recently ended in memory, all in the store."""

    def __init__(self, host: CallHost, store: Store, *, owns_host: bool,
                 outbox: StoreOutbox | None = None, keep_ended: int = KEEP_ENDED,
                 on_ended: Callable[[str], None] | None = None,
                 virtual_sinks: Callable[[str], TraceSink] | None = None,
                 max_live_calls: int | None = None) -> None:
        """`outbox`: started with the host (it delivers through the host's
        HTTP client) and flushed and closed after the calls; it must be the
        host's outbox. `on_ended(call_id)` once each call has ended
        (server/events.py ends the call's followers, should its trace not have).
        `virtual_sinks`: the trace sinks of virtual-clock calls (the metrics)."""
        self.host = host
        self.store = store
        self.owns_host = owns_host
        self.outbox = outbox
        self.keep_ended = keep_ended
        self.accepting = True
        self._on_ended = on_ended
        self._records: dict[str, CallRecord] = {}
        self._ended: deque[str] = deque()
        self._followers: set[asyncio.Task[None]] = set()
        self._virtual: set[str] = set()  # calls running on a virtual clock, in threads
        self._virtual_sinks = virtual_sinks
        self.max_live_calls = max_live_calls

    async def running(self, _: web.Application) -> AsyncIterator[None]:
        """The app's cleanup context: record what a crash left live, run the
        host (when the app owns it) and the outbox; at cleanup, end the
        calls still live, then flush and close the outbox."""
        crashed = await self.store.end_live_calls(time.time(), CRASHED)
        if crashed:
            LOGGER.warning("calls left live by a crash recorded as ended",
                           extra={"fields": {"calls": len(crashed), "disposition": CRASHED}})
        if self.owns_host:
            async with self.host:
                async for serving in self._serving():
                    yield serving
        else:
            async for serving in self._serving():
                yield serving

    async def _serving(self) -> AsyncIterator[None]:
        if self.outbox is not None:
            await self.outbox.start(self.host.http, self.host.providers)
        try:
            yield
        finally:
            await self.drain(0.0)
            if self.outbox is not None:
                try:
                    await self.outbox.flush(GOODBYE_SECONDS)
                except StoreError:
                    # Not lost: what is not delivered stays pending in the store.
                    LOGGER.exception("could not flush the outbox")
                await self.outbox.close()

    async def drain(self, timeout: float, goodbye: str = GOODBYE) -> None:
        """Refuse new calls; give the live ones `timeout` seconds to end on
        their own, then end the rest after `goodbye` is spoken."""
        self.accepting = False
        if self._followers and timeout > 0:
            await asyncio.wait(set(self._followers), timeout=timeout)
        live = [record for record in self._records.values() if record.phase is Phase.LIVE]
        for record in live:
            self.host.post(record.call_id, ev.HangupRequested(reason="server stopping",
                                                              farewell=goodbye))
        if live:
            LOGGER.info("ending calls still live", extra={"fields": {"calls": len(live)}})
        if self._followers:
            # The goodbye's playout deadline bounds each call's end; this bounds
            # the wait should a call not end at all (then the host's close waits).
            _, stuck = await asyncio.wait(set(self._followers), timeout=GOODBYE_SECONDS)
            if stuck:
                LOGGER.error("calls did not end after their goodbye",
                             extra={"fields": {"calls": len(stuck)}})

    # ------------------------------------------------------------ calls

    def lacks_model(self, flow: ir.CompiledFlow) -> bool:
        """The flow has an ai verb and the host has no model of its own for
        it (a call must then bring one, or cannot run it)."""
        return self.host.providers.get(self.host.default_llm) is None and has_ai(flow)

    @staticmethod
    def new_call_id() -> str:
        """An id for a call about to start: minted before its flow is chosen,
        so that a bound flow's document is fetched for the id the call will
        have (an SDK agent ties its tools' tokens to it)."""
        return str(uuid.uuid4())

    async def start(self, chosen: CallFlow, script: CallerScript,
                    model: ScriptedProvider | None, *, audio: bool = False,
                    virtual: bool = False, call_id: str | None = None) -> CallRecord:
        """A call of a simulated caller following `script` (text, or eSpeak on
        the audio runtime), recorded, then started with the flow chosen for
        it (or, `virtual`, on a virtual clock of its own: server/
        virtual_calls.py); it is live at once and ends on its own.
        ShuttingDown once a drain began; TooManyCalls at max_live_calls;
        StoreError when the store cannot record it (then no call starts)."""
        if not virtual:
            def simulated() -> tuple[CallerChannel, Telephony]:
                caller = self._audio_caller(chosen.flow, script) if audio \
                    else SimulatedCaller(script)
                return caller, SimulatedNetwork.for_script(script)

            call = await self.start_on(chosen, simulated, call_details(script), audio=audio,
                                       model=model, owned=True, call_id=call_id)
            return self._records[call.call_id]
        entry = await self._admit(chosen, audio, call_id)
        self._follow_task(self._run_virtual(entry, chosen, script, model, audio),
                          entry.call_id)
        self._virtual.add(entry.call_id)
        return CallRecord(entry, None, None)

    async def start_on(self, chosen: CallFlow,
                       make: Callable[[], tuple[CallerChannel, Telephony]],
                       details: Mapping[str, JSONValue], *, audio: bool,
                       model: LlmProvider | None = None, owned: bool = False,
                       call_id: str | None = None) -> Call:
        """Record a call, then start it on the host with the channel and
        telephony `make()` gives (made only once the call is admitted).
        `owned`: the registry closes them when the call ends (a transport
        that owns them, a media socket, closes its own). `call_id`: the id
        `new_call_id` gave when the flow was chosen (else a new one)."""
        entry = await self._admit(chosen, audio, call_id)
        channel, telephony = make()
        call = self.host.start_call(chosen.flow, channel, telephony, call_id=entry.call_id,
                                    call_info=details, llm=model)
        chosen.record(call.trace)
        self._records[call.call_id] = CallRecord(entry, call.trace, call)
        # The simulated parts have close(); the protocols do not promise it.
        closing: list[Closable] = [p for p in (channel, telephony)
                                   if owned and isinstance(p, Closable)]
        self._follow_task(self._follow(call, closing), call.call_id)
        return call

    async def _admit(self, chosen: CallFlow, audio: bool,
                     call_id: str | None = None) -> CallEntry:
        """The call's record, stored, if the server takes one more call."""
        if not self.accepting:
            raise ShuttingDown("the server is shutting down and starts no new call")
        live = self.live_count()
        if self.max_live_calls is not None and live >= self.max_live_calls:
            raise TooManyCalls(f"{live:,} calls are live, the server's most "
                               f"(max_live_calls); try again when one has ended")
        entry = CallEntry(call_id or self.new_call_id(), chosen.name, chosen.version,
                          chosen.flow.content_hash, "audio" if audio else "text", time.time())
        await self.store.add_call(entry)
        return entry

    def _follow_task(self, work: Coroutine[Any, Any, None], call_id: str) -> None:
        follower = asyncio.get_running_loop().create_task(work, name=f"rest-call:{call_id}")
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)

    async def _run_virtual(self, entry: CallEntry, chosen: CallFlow, script: CallerScript,
                           model: ScriptedProvider | None, audio: bool) -> None:
        hand_over = virtual_calls.HandOver(asyncio.get_running_loop(), self.host.outbox.submit)
        try:
            run = await asyncio.to_thread(
                virtual_calls.run_call, chosen, script, model, call_id=entry.call_id,
                audio=audio, outbox=hand_over, destinations=self.host.destinations,
                signer=self.host.signer, trace_sinks=self._virtual_sinks)
            disposition, records = run.disposition, run.records
        except Exception:  # a bug must not leave the call live in the store
            LOGGER.exception("a virtual-clock call failed", extra={"fields": {
                "call_id": entry.call_id}})
            disposition, records = "error:state_error", []
        finally:
            self._virtual.discard(entry.call_id)
        trace = "".join(_encode(r) + "\n" for r in records).encode()
        try:
            await self.store.end_call(entry.call_id, time.time(), disposition, trace)
        except StoreError:
            LOGGER.exception("could not record a call's end", extra={"fields": {
                "call_id": entry.call_id, "disposition": disposition}})

    def _audio_caller(self, flow: ir.CompiledFlow, script: CallerScript) -> AudioCaller:
        # The speech engines load only when an audio call is asked for.
        from interpreter.transports.audio_caller import for_flow

        return for_flow(flow, script, self.host.recognizer)

    async def _follow(self, call: Call, closing: list[Closable]) -> None:
        try:
            await self.host.wait(call)
        finally:
            for part in closing:
                await part.close()
            await self._ended_call(call)

    async def _ended_call(self, call: Call) -> None:
        ended = call.trace.of_kind("call_ended")
        disposition = str(ended[-1]["disposition"]) if ended else "unknown"
        record = self._records[call.call_id]
        entry = dataclasses.replace(record.entry, ended_at=time.time(), disposition=disposition)
        self._records[call.call_id] = dataclasses.replace(record, entry=entry, call=None)
        self._ended.append(call.call_id)
        while len(self._ended) > self.keep_ended:
            del self._records[self._ended.popleft()]
        trace = "".join(_encode(r) + "\n" for r in call.trace.records).encode()
        try:
            await self.store.end_call(call.call_id, entry.ended_at or 0.0, disposition, trace)
        except StoreError:
            # The record stays live in the store; the next start records it
            # as ended by a crash. The trace is still served from memory.
            LOGGER.exception("could not record a call's end", extra={"fields": {
                "call_id": call.call_id, "disposition": disposition}})
        if self._on_ended is not None:
            self._on_ended(call.call_id)

    def live_count(self) -> int:
        """Calls running now: on the host's loop and on virtual clocks."""
        return len(self.host.calls) + len(self._virtual)

    def live(self, call_id: str) -> CallRecord | None:
        """The call in memory (live or recently ended), if it is."""
        return self._records.get(call_id)

    async def get(self, call_id: str) -> CallRecord:
        """The call from memory, else from the store (NotFound)."""
        record = self._records.get(call_id)
        if record is not None:
            return record
        return CallRecord(await self.store.call(call_id), None, None)

    async def calls(self, *, flow: str | None = None, phase: Phase | None = None,
                    since: float | None = None, until: float | None = None,
                    limit: int = 100) -> list[CallRecord]:
        """Newest first, from the store; live ones with their running call."""
        entries = await self.store.calls(flow=flow, live=None if phase is None
                                         else phase is Phase.LIVE,
                                         since=since, until=until, limit=limit)
        return [self._records.get(e.call_id) or CallRecord(e, None, None) for e in entries]

    async def trace_lines(self, call_id: str) -> tuple[list[str], int]:
        """The call's trace records as JSON lines, and how many were dropped:
        from memory while it is kept there, else as stored when it ended
        (empty for a call ended by a crash)."""
        record = self._records.get(call_id)
        if record is not None and record.trace is not None:
            return [_encode(r) for r in record.trace.records], record.trace.dropped
        stored = await self.store.call_trace(call_id)  # NotFound
        return (stored.decode().splitlines() if stored else []), 0

    def post(self, call_id: str, event: ev.Event) -> CallRecord:
        """Deliver a command to a live call through its inbox; Problem-ready
        `CallEnded` when it has ended (or is not this server's)."""
        if call_id in self._virtual:
            raise CallNotLive(call_id, None, "runs on a virtual clock to its end; it takes no "
                                             "commands")
        record = self._records.get(call_id)
        if record is None or record.phase is Phase.ENDED or not self.host.post(call_id, event):
            disposition = record.entry.disposition if record is not None else None
            raise CallNotLive(call_id, disposition)
        return record

    async def hang_up(self, call_id: str) -> CallRecord:
        """Ask a live call to hang up (NotFound; CallNotLive once it has ended)."""
        if call_id not in self._records and call_id not in self._virtual:
            entry = await self.store.call(call_id)  # NotFound for no such call
            raise CallNotLive(call_id, entry.disposition)
        return self.post(call_id, ev.HangupRequested(reason="rest"))


class CallNotLive(Exception):
    """A command to a call that has ended."""

    def __init__(self, call_id: str, disposition: str | None, why: str = "") -> None:
        super().__init__(f"call {call_id} " + (why or f"has ended ({disposition or 'ending'}); "
                                                      "it takes no more commands"))
        self.call_id = call_id

