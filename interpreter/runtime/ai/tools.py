"""Running a tool the model called: validation, loop guard, the effect, the
reply's actions, and classified failures the model is told about."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ToolCall
from interpreter.runtime import events as ev
from interpreter.runtime import faults
from interpreter.runtime.ai import actions, fillers, prompt, recovery
from interpreter.runtime.ai.conversation import logged
from interpreter.runtime.call import EFFECT_GRACE
from interpreter.runtime.tools.arguments import parse_arguments
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.natives import run_native
from interpreter.runtime.tools.webhook import meta_data_token

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

# The same function with the same arguments this many times in one session is
# a loop (the hosted platform's function_loop guard).
REPEAT_LIMIT = 3
# How long a function without a timeout of its own may take.
DEFAULT_TOOL_TIMEOUT = 10.0


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
        faults.record(session.call, fault.error_type, fault.detail, fatal=False,
                      function=function.name, next="session continues")
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
    recovery.succeeded(session, ErrorType.TOOL_ERROR, ErrorType.TOOL_TIMEOUT,
                       ErrorType.TOOL_INVALID_CALL)
    await actions.apply(session, reply.actions, reply.post_process,
                        meta_data_token(function), call.id)
    if reply.tool_prompt:
        session.conversation.say("system", reply.tool_prompt)
    return reply.response or "Action completed."


def _context(session: AiSession, function: ir.Function) -> ToolContext:
    info = session.call.call_info
    call_log: tuple[JSONValue, ...] | None = tuple(
        logged(m) for m in session.conversation.messages
    ) if session.verb.params.swaig_post_conversation else None
    return ToolContext(session.call.call_id, session.session_id, session.verb.params.app_name,
                       dict(session.global_data),
                       dict(session.meta_data.get(meta_data_token(function), {})),
                       str(info.get("from_name")) if info.get("from_name") else None,
                       str(info.get("from")) if info.get("from") else None,
                       call_log=call_log)


async def _run(session: AiSession, function: ir.Function, call: ToolCall,
               arguments: dict[str, JSONValue]) -> ToolReply:
    runtime = session.call
    if function.native:
        return await run_native(session, function, arguments)
    context = _context(session, function)
    tools = session.tools
    # A call repeated after a barge-in cancelled it goes out with the same
    # request id, so the application can tell a retry from a second order.
    key = (call.name, call.arguments)
    request_id = session.cancelled_requests.pop(key, None) or str(uuid.uuid4())
    epoch = runtime.epoch

    async def work(effect_id: int) -> None:
        try:
            reply = await tools.run(function, call.arguments, arguments, context,
                                    client=runtime.http(), request_id=request_id)
            runtime.post(ev.ToolReturned(effect_id, function.name, reply, epoch=epoch))
        except ToolFault as fault:
            runtime.post(ev.ToolFailed(effect_id, function.name, fault.error_type.value,
                                       fault.detail, fault.requests, epoch=epoch))

    if tools.source(function) == "mock":
        runtime.trace.record("tool_mocked", function=function.name, arguments=call.arguments)
    started = runtime.now()
    effect = runtime.start_effect("tool", work, ErrorType.TOOL_ERROR, function=function.name,
                                  arguments=call.arguments, request_id=request_id)
    # The webhook's own timeout ends the request; past it and a grace the
    # tool is lost: a tool_timeout, whatever the effect is doing.
    limit = function.timeout if function.timeout > 0 else DEFAULT_TOOL_TIMEOUT
    deadline = runtime.now() + limit + EFFECT_GRACE

    def wanted(event: ev.Event) -> bool:
        if isinstance(event, ev.ToolReturned | ev.ToolFailed | ev.EffectFailed):
            return event.effect_id == effect
        return getattr(event, "source", None) == "caller" and \
            isinstance(event, ev.SpeechStarted | ev.TranscriptReceived)

    filler = fillers.for_function(session, function)
    filler_playing = False
    while True:
        left = deadline - runtime.now()
        event = await runtime.wait_for(wanted, min(fillers.FILLER_AFTER, left) if filler
                                       else left)
        if event is None and runtime.now() >= deadline - 1e-6:
            runtime.cancel_effect(effect)
            raise ToolFault(ErrorType.TOOL_TIMEOUT,
                            f'"{function.name}" gave no reply within '
                            f"{limit + EFFECT_GRACE:g} seconds")
        if event is None and filler:
            # The tool is taking a while: a filler, so the caller does not sit
            # in silence (a fast tool answers before one is needed).
            fillers.play(session, filler, "function", function=function.name)
            filler, filler_playing = None, True
            continue
        if isinstance(event, ev.SpeechStarted | ev.TranscriptReceived):
            if isinstance(event, ev.TranscriptReceived) and event.final:
                session.conversation.pending_input.append(event.text)
            if not ev.barges(session.tuning.barge, event):
                continue
            if filler_playing:
                session.executor.channel.stop_playout()
                filler_playing = False
            if session.tuning.barge.functions:
                # The tool completes (its side effect must not run twice) and
                # the caller's words reach the model with its result.
                continue
            runtime.cancel_effect(effect)
            session.cancelled_requests[key] = request_id
            session.interrupted = True
            runtime.trace.record("tool_cancelled", function=function.name,
                                 request_id=request_id, why="caller barged in",
                                 seconds=round(runtime.now() - started, 6))
            return ToolReply(
                f'The caller interrupted before "{function.name}" replied, so it was '
                "cancelled; it may or may not have taken effect. Ask the caller before "
                "calling it again.")
        break
    seconds = round(runtime.now() - started, 6)
    session.conversation.swaig_log.append(
        {"command_name": function.name, "command_arg": call.arguments, "seconds": seconds})
    for request in event.requests if isinstance(event, ev.ToolFailed) else \
            event.reply.requests if isinstance(event, ev.ToolReturned) and \
            isinstance(event.reply, ToolReply) else ():
        runtime.trace.record("data_map_request", function=function.name, **request)
    if isinstance(event, ev.ToolFailed | ev.EffectFailed):
        error_type = ErrorType(event.error_type) if isinstance(event, ev.ToolFailed) \
            else event.error_type
        message = event.message if isinstance(event, ev.ToolFailed) else event.error
        runtime.trace.record("tool_failed", function=function.name, error=error_type.value,
                             message=message, seconds=seconds)
        raise ToolFault(error_type, message)
    assert isinstance(event, ev.ToolReturned) and isinstance(event.reply, ToolReply)
    runtime.trace.record("tool_returned", function=function.name, seconds=seconds,
                         response=event.reply.response,
                         actions=[a.name for a in event.reply.actions])
    return event.reply


async def _failed(session: AiSession, call: ToolCall, fault: ToolFault) -> str:
    outcome = recovery.classify(session, fault.error_type, fault.detail,
                                then="told the model", function=call.name)
    if outcome.phrase:
        await session.executor.say(outcome.phrase)
    return f"Error: {fault.detail}"
