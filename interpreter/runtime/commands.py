"""Operator commands (say, transfer, unhold) run at a call's safe points.

A command arrives in the call's inbox like any other event (runtime/events.py)
and is traced as `command_received`. Whatever the call is doing then — the
agent mid-reply, a verb waiting — finishes first: the actor keeps the command
in `Call.commands` and runs it at the next safe point, in order. There are two:

- between the agent's turns in an ai session (ai/loop.py): `say` is spoken
  like the agent's own words (the caller may barge in; the conversation keeps
  what they heard), `transfer` ends the session, `unhold` ends a hold;
- between two verbs (`run_pending` below, called by the executor): `say` is
  played and waited out, `transfer` jumps or dials.

A verb that waits long (a sleep, a prompt, a bridged connect) finishes before
the command runs; a command the call never reaches is traced as
`command_dropped` when the call ends.

`transfer` is a tail call, as the SWML `transfer` method and the SWAIG
`transfer` action are: the rest of the script is left. To a section of the
call's flow, the script goes on there. To a number or a SIP address, the call
`connect`s to it (the SDK's `connect(final=True)`): the caller hears ringback,
is bridged, and the call ends when the bridge does; if no leg answers the
failure is a `transfer_failed` (its recovery phrase spoken) and the script
goes on where it was.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.diagnostics import Span
from interpreter.errors import ErrorType
from interpreter.runtime import events as ev
from interpreter.runtime import faults
from interpreter.runtime.state import CallState

if TYPE_CHECKING:
    from interpreter.runtime.call import Call
    from interpreter.runtime.executor import Executor

# What a transfer may dial: E.164-ish numbers and SIP addresses (the forms the
# SWML `connect` takes that reach a person; queues and streams are not).
PHONE = re.compile(r"\+?[0-9]{3,15}")
SIP = re.compile(r"sips?:[^\s@]+@[^\s]+|sips?:[^\s]+", re.IGNORECASE)
# Where the connect verb made for a transfer says it came from in the trace.
_COMMAND_SPAN = Span("<transfer command>", 0, 0)


def dialable(dest: str) -> bool:
    """Whether a transfer to `dest` dials it (a number or a SIP address)."""
    return bool(PHONE.fullmatch(dest) or SIP.fullmatch(dest))


def transfer_target(flow: ir.CompiledFlow, dest: str) -> str | None:
    """"section" or "dial" for a destination a transfer can reach; None when
    it is neither a section of `flow` nor a number or SIP address."""
    if flow.section(dest) is not None:
        return "section"
    return "dial" if dialable(dest) else None


def refuse(call: Call, command: ev.Command, why: str) -> None:
    call.trace.record("command_refused", command=command.command, seq=command.seq, why=why)


async def run_pending(executor: Executor) -> None:
    """The safe point between two verbs: run the commands kept so far."""
    call = executor.call
    while call.commands and executor.stack:
        command = call.commands.popleft()
        match command:
            case ev.SayRequested(text=text):
                if call.state in (CallState.NEW, CallState.RINGING):
                    refuse(call, command, "the call is not answered yet: nobody would hear it")
                    continue
                await executor.say(text)
            case ev.TransferRequested(dest=dest):
                await transfer(executor, command, dest)
            case ev.UnholdRequested():
                refuse(call, command, "the call is not on hold")


async def transfer(executor: Executor, command: ev.Command, dest: str) -> None:
    """Leave the rest of the script for `dest` (see the module docstring)."""
    from interpreter.runtime.executor import MAX_TRANSFERS, Frame, ScriptEnded
    from interpreter.runtime.verbs import network

    call = executor.call
    section = call.flow.section(dest)
    if section is not None:
        if executor.transfers >= MAX_TRANSFERS:
            refuse(call, command, f"the call has made {MAX_TRANSFERS} transfers already")
            return
        executor.transfers += 1
        call.trace.record("transferred", to=section.name)
        executor.stack = [Frame(section.body, section, {})]
        return
    if not dialable(dest):
        # Checked when the command was accepted; a flow never changes mid-call.
        refuse(call, command, f'"{dest}" is neither a section, a number nor a SIP address')
        return
    await network.connect(executor, ir.Connect(_COMMAND_SPAN, ((dest,),)))
    if call.vars.get("connect_result") == "connected":
        executor.stack.clear()  # handed off: the call ends with the bridge
        return
    reason = call.vars.get("connect_failed_reason") or "failed"
    outcome = faults.classify(call, ErrorType.TRANSFER_FAILED,
                              f"transfer to {dest}: {reason}", then="the script goes on")
    await executor.say(outcome.phrase)
    if outcome.fatal:
        raise ScriptEnded(f"error:{ErrorType.TRANSFER_FAILED.value}")
