"""Running a tool the model called: validation, loop guard, the effect, the
reply's actions, and classified failures the model is told about."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.clock import real_io
from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ToolCall
from interpreter.runtime import events as ev
from interpreter.runtime.ai import actions, prompt
from interpreter.runtime.tools.arguments import parse_arguments
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.data_map import run_data_map
from interpreter.runtime.tools.webhook import call_webhook, meta_data_token
from interpreter.transports.protocols import Utterance

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession, ToolMock

# The same function with the same arguments this many times in one session is
# a loop (the hosted platform's function_loop guard).
REPEAT_LIMIT = 3
# How long a tool may take before a function filler is spoken.
FILLER_AFTER = 0.6


async def run_hook(session: AiSession, names: tuple[str, ...]) -> None:
    """Call a reserved hook function (startup_hook/start_hook on start,
    hangup_hook/stop_hook at the end) if the flow defines one; its actions
    apply, its failure is traced and never stops the session."""
    function = next((f for f in session.verb.functions if f.name in names), None)
    if function is None:
        return
    call = ToolCall(f"hook_{function.name}", function.name, "{}")
    session.call.trace.record("hook", function=function.name)
    try:
        reply = await _run(session, function, call, {})
    except ToolFault as fault:
        session.call.trace.record("error", type=fault.error_type.value, fatal=False,
                                  message=fault.detail, function=function.name,
                                  next="session continues")
        return
    await actions.apply(session, reply.actions, False, meta_data_token(function))


async def run_tool(session: AiSession, call: ToolCall) -> str:
    """Run the call and return the text the model gets back as the tool result."""
    function = next((f for f in prompt.offered_functions(session) if f.name == call.name), None)
    try:
        if function is None:
            raise ToolFault(ErrorType.TOOL_INVALID_CALL,
                            f'there is no function "{call.name}" available in this step')
        arguments = parse_arguments(function, call.arguments)
        key = (call.name, call.arguments)
        session.tool_calls[key] = session.tool_calls.get(key, 0) + 1
        if session.tool_calls[key] > REPEAT_LIMIT:
            raise ToolFault(ErrorType.TOOL_INVALID_CALL,
                            f'"{call.name}" was already called {REPEAT_LIMIT} times with these '
                            "arguments; use the earlier result")
        reply = await _run(session, function, call, arguments)
    except ToolFault as fault:
        return await _failed(session, call, fault)
    session.failures.pop(ErrorType.TOOL_ERROR, None)
    session.failures.pop(ErrorType.TOOL_TIMEOUT, None)
    await actions.apply(session, reply.actions, reply.post_process,
                        meta_data_token(function))
    if reply.tool_prompt:
        from interpreter.providers.llm.base import ChatMessage

        session.messages.append(ChatMessage("system", reply.tool_prompt))
    return reply.response or "Action completed."


def pick_filler(session: AiSession, function: ir.Function) -> str | None:
    """A function filler for the session's language: the function's own map
    (exact code, then `auto`, then `default`), else the language's
    function_fillers; rotated so repeats vary."""
    if function.skip_fillers:
        return None
    language = session.verb.languages[0] if session.verb.languages else None
    code = language.code if language else "en-US"
    choices: tuple[str, ...] = ()
    for key in (code, "auto", "default"):
        if function.fillers.get(key):
            choices = function.fillers[key]
            break
    if not choices and language is not None:
        choices = language.function_fillers
    if not choices:
        return None
    session.filler_count += 1
    return choices[(session.filler_count - 1) % len(choices)]


def _context(session: AiSession, function: ir.Function) -> ToolContext:
    info = session.call.call_info
    return ToolContext(session.call.call_id, session.session_id, session.verb.params.app_name,
                       dict(session.global_data),
                       dict(session.meta_data.get(meta_data_token(function), {})),
                       str(info.get("from_name")) if info.get("from_name") else None,
                       str(info.get("from")) if info.get("from") else None)


async def _run(session: AiSession, function: ir.Function, call: ToolCall,
               arguments: dict[str, JSONValue]) -> ToolReply:
    runtime = session.call
    context = _context(session, function)
    mock = session.mocks.get(function.name)
    if mock is not None:
        return await _mocked(session, function, call, mock)
    if function.native:
        return _native(function, arguments, session)
    epoch = runtime.epoch

    async def work(effect_id: int) -> None:
        try:
            with real_io():
                if function.data_map is not None:
                    reply = await run_data_map(function, arguments, context,
                                               session=runtime.http())
                else:
                    reply = await call_webhook(function, call.arguments, arguments, context,
                                               session=runtime.http(),
                                               request_id=str(uuid.uuid4()))
            runtime.post(ev.ToolReturned(effect_id, function.name, reply, epoch=epoch))
        except ToolFault as fault:
            runtime.post(ev.ToolFailed(effect_id, function.name, fault.error_type.value,
                                       fault.detail, epoch=epoch))

    started = runtime.now()
    effect = runtime.start_effect("tool", work, function=function.name,
                                  arguments=call.arguments)
    def wanted(event: ev.Event) -> bool:
        if isinstance(event, ev.ToolReturned | ev.ToolFailed):
            return event.effect_id == effect
        return isinstance(event, ev.TranscriptReceived) and event.source == "caller"

    filler = pick_filler(session, function)
    while True:
        event = await runtime.wait_for(wanted, FILLER_AFTER if filler else None)
        if event is None and filler:
            # The tool is taking a while: a filler, so the caller does not sit
            # in silence (a fast tool answers before one is needed).
            session.executor.channel.play(runtime.next_id(), [Utterance("say", filler)])
            runtime.trace.record("filler", text=filler, function=function.name)
            session.filler_prefix += filler + " "
            filler = None
            continue
        if isinstance(event, ev.TranscriptReceived):
            # The caller spoke while the tool ran: the tool completes (its side
            # effect must not run twice) and the words wait for the next turn.
            session.pending_input.append(event.text)
            continue
        break
    seconds = round(runtime.now() - started, 6)
    session.swaig_log.append({"command_name": function.name, "command_arg": call.arguments,
                              "seconds": seconds})
    if isinstance(event, ev.ToolFailed):
        runtime.trace.record("tool_failed", function=function.name, error=event.error_type,
                             message=event.message, seconds=seconds)
        raise ToolFault(ErrorType(event.error_type), event.message)
    assert isinstance(event, ev.ToolReturned) and isinstance(event.reply, ToolReply)
    runtime.trace.record("tool_returned", function=function.name, seconds=seconds,
                         response=event.reply.response,
                         actions=[list(a) for a in event.reply.actions])
    return event.reply


async def _mocked(session: AiSession, function: ir.Function, call: ToolCall,
                  mock: ToolMock) -> ToolReply:
    """A flow test's stand-in for the tool: same trace, no request."""
    runtime = session.call
    runtime.trace.record("tool_mocked", function=function.name, arguments=call.arguments)
    if mock.delay:
        await runtime.wait_for(lambda _: False, mock.delay)
    if mock.fail is not None:
        runtime.trace.record("tool_failed", function=function.name, error=mock.fail.value,
                             message="mocked failure", seconds=mock.delay)
        raise ToolFault(mock.fail, f"{function.name} failed (mocked {mock.fail.value})")
    runtime.trace.record("tool_returned", function=function.name, seconds=mock.delay,
                         response=mock.response, actions=[list(a) for a in mock.actions])
    return ToolReply(mock.response, None, mock.actions)


def _native(function: ir.Function, arguments: dict[str, JSONValue],
            session: AiSession) -> ToolReply:
    if function.name == "check_time":
        now = datetime.datetime.now(datetime.UTC)
        return ToolReply(f"The time is {now.strftime('%H:%M')} UTC on {now:%A, %B %d, %Y}.")
    return ToolReply(f"{function.name} done.")


async def _failed(session: AiSession, call: ToolCall, fault: ToolFault) -> str:
    policy = session.policy(fault.error_type)
    count = session.failures.get(fault.error_type, 0) + 1
    session.failures[fault.error_type] = count
    fatal = policy.fatal or count > policy.max_retries + 1
    session.call.trace.record("error", type=fault.error_type.value, fatal=fatal,
                              message=fault.detail, function=call.name, attempt=count,
                              phrase=policy.phrase, next="hangup" if fatal else "told the model")
    if policy.phrase:
        await session.executor.say(policy.phrase)
    if fatal:
        session.ended = f"error:{fault.error_type.value}"
        session.hangup_after = True
    return f"Error: {fault.detail}"
