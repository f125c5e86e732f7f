"""Calls over REST on a virtual clock: a flow tested against a caller script
as fast as the CPU runs it, the way `callkernel run` and `callkernel test`
run calls, with its record, trace and deliveries kept like any other call's.

A virtual clock jumps its loop's time forward whenever nothing is ready, so
it cannot share the server's loop (every live call's timers and every
request's timeout would jump with it). Each such call therefore runs on its
own virtual-time loop in a worker thread, with a host of its own under the
server's destination policy and signing key. What it hands over for after
the call (its summaries, its status callbacks) goes to the server's outbox
on the server's loop. It runs to its end: it takes no commands and cannot
be followed live (its events replay once it has ended), and it shares the
process's CPU with the live calls — it is for testing flows, not for load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interpreter.clock import run_virtual
from interpreter.destinations import DestinationPolicy
from interpreter.host import CallHost
from interpreter.providers.llm.base import LlmProvider
from interpreter.runtime.outbox import Delivery
from interpreter.runtime.trace import TraceSink
from interpreter.server.remote_flows import CallFlow
from interpreter.signing import RequestSigner
from interpreter.transports.caller_script import CallerScript, call_details
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork


@dataclass(frozen=True, slots=True)
class VirtualRun:
    """How a virtual-clock call went."""

    disposition: str
    records: list[dict[str, Any]]


class HandOver:
    """An `Outbox` for the worker thread's host: each delivery goes to the
    server's outbox, submitted on the server's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 submit: Callable[[Delivery], None]) -> None:
        self._loop = loop
        self._submit = submit

    def submit(self, delivery: Delivery) -> None:
        self._loop.call_soon_threadsafe(self._submit, delivery)


def run_call(chosen: CallFlow, script: CallerScript, model: LlmProvider | None, *,
             call_id: str, audio: bool, outbox: HandOver,
             destinations: DestinationPolicy, signer: RequestSigner | None,
             trace_sinks: Callable[[str], TraceSink] | None = None) -> VirtualRun:
    """Run the call of the flow chosen for it to its end on a fresh
    virtual-time loop (blocking: call it in a worker thread). `trace_sinks`:
    where its records go besides memory (the server's metrics, which are
    thread-safe; never its followers, whose queues live on the server's loop)."""
    flow = chosen.flow

    async def main() -> VirtualRun:
        async with CallHost(outbox=outbox, destinations=destinations, signer=signer,
                            trace_sinks=trace_sinks) as host:
            if audio:
                from interpreter.transports.audio_caller import for_flow

                caller: Any = for_flow(flow, script, host.recognizer)
            else:
                caller = SimulatedCaller(script)
            network = SimulatedNetwork.for_script(script)
            try:
                call = host.start_call(flow, caller, network, call_id=call_id,
                                       call_info=call_details(script), llm=model)
                chosen.record(call.trace)
                await host.wait(call)
            finally:
                await caller.close()
                await network.close()
            ended = call.trace.of_kind("call_ended")
            disposition = str(ended[-1]["disposition"]) if ended else "unknown"
            return VirtualRun(disposition, list(call.trace.records))

    return run_virtual(main)
