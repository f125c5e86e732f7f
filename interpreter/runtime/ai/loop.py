"""The ai verb's agent loop, run inside the call's actor.

A turn: the caller's words become a user message; the model's reply streams
in as an effect; each sentence goes to speech as soon as it is complete; tool
calls run as effects and their replies go back to the model. When the caller
barges in, playout stops in the same tick, the generation is cancelled (its
epoch passes, so nothing more of it is spoken), and the conversation keeps
only the words the caller heard. Errors are classified, spoken and retried
per the flow's error_recovery; a fatal one ends the call with a goodbye.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import CallFault, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import (
    ChatMessage,
    Finished,
    LlmError,
    LlmProvider,
    LlmRequest,
    TextDelta,
    ToolCall,
    ToolCallReady,
)
from interpreter.runtime import events as ev
from interpreter.runtime.ai import actions, gather, prompt, summary
from interpreter.runtime.ai.includes import fetch_includes
from interpreter.runtime.ai.session import AiSession, ToolMock
from interpreter.runtime.ai.tools import run_hook, run_tool
from interpreter.runtime.state import CallState
from interpreter.transports.protocols import Utterance

if TYPE_CHECKING:
    from interpreter.runtime.executor import Executor, Frame

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A model that keeps calling tools without speaking is stopped after this many.
MAX_TOOL_ROUNDS = 8
_LLM_KINDS = {"timeout": ErrorType.LLM_TIMEOUT}
_EPSILON = 1e-6
_TICK = 0.001  # the shortest wait, so a deadline always makes the clock move


class _Barged(Exception):
    """The caller interrupted the turn."""


def runner(llm: LlmProvider, *, mocks: Mapping[str, ToolMock] | None = None,
           start: tuple[str, str | None] | None = None,
           ) -> Callable[[Executor, ir.Ai], Awaitable[None]]:
    """The `ai_runner` a Call uses for its ai verbs, with this model; a flow
    test adds tool mocks and a context (and step) to start in."""

    async def run(executor: Executor, verb: ir.Ai) -> None:
        await run_ai(executor, verb, llm, mocks=mocks or {}, start=start)

    return run


async def run_ai(executor: Executor, verb: ir.Ai, llm: LlmProvider, *,
                 mocks: Mapping[str, ToolMock] | None = None,
                 start: tuple[str, str | None] | None = None) -> None:
    call = executor.call
    session = AiSession.start(call, executor, verb, llm)
    session.mocks = mocks or {}
    if start is not None:
        _start_at(session, *start)
    call.set_state(CallState.IN_AI)
    call.trace.record("ai_started", session=session.session_id,
                      context=session.context.name if session.context else None,
                      step=session.step.name if session.step else None)
    try:
        await fetch_includes(session)
        await run_hook(session, ("startup_hook", "start_hook"))
        await _converse(session)
    finally:
        # Run and delivered whatever ended the session, a hangup included.
        await _final_hook(session)
        await summary.deliver(session)
        call.trace.record("ai_ended", session=session.session_id, reason=session.ended,
                          input_tokens=session.input_tokens,
                          output_tokens=session.output_tokens)
    call.carried = _handover(session)
    call.set_state(CallState.ANSWERED)
    call.vars["ai_result"] = "success" if not (session.ended or "").startswith("error") \
        else "failed"
    for document, hard in session.swml_actions:
        await _run_swml(executor, document, hard)
    if session.hangup_after:
        from interpreter.runtime.executor import ScriptEnded

        raise ScriptEnded("hangup:ai")
    if session.transfer is not None:
        executor.stack.clear()
        executor.stack.append(_frame(session.transfer))


async def _final_hook(session: AiSession) -> None:
    from interpreter.runtime.call import CallEnded

    # The caller may already be gone; the hook is sent all the same.
    with contextlib.suppress(CallEnded):
        await run_hook(session, ("hangup_hook", "stop_hook"))


def _start_at(session: AiSession, context_name: str, step_name: str | None) -> None:
    context = next((c for c in session.verb.contexts if c.name == context_name), None)
    if context is None:
        raise CallFault(ErrorType.STATE_ERROR, f'no context "{context_name}" to start in')
    step = context.first_step if step_name is None else next(
        (s for s in context.steps if s.name == step_name), None)
    if step is None:
        raise CallFault(ErrorType.STATE_ERROR, f'no step "{step_name}" in "{context_name}"')
    session.context, session.step = context, step


# How much of the conversation a transfer carries to the next agent.
HANDOVER_MESSAGES = 8


def _handover(session: AiSession) -> dict[str, JSONValue]:
    """What the next agent gets: global_data, meta_data and the last turns."""
    turns = [f"{m.role}: {m.content}" for m in session.messages
             if m.role in ("user", "assistant") and m.content][-HANDOVER_MESSAGES:]
    return {"global_data": dict(session.global_data),
            "meta_data": {k: dict(v) for k, v in session.meta_data.items()},
            "summary": " | ".join(turns)}


async def _run_swml(executor: Executor, document: object, hard: bool) -> None:
    """A SWML action: run it inline, or (`transfer: true`) replace the script."""
    from interpreter.runtime.executor import Executor as Runner
    from interpreter.runtime.executor import ScriptEnded

    call = executor.call
    if call.flow_loader is None:
        call.trace.record("error", type=ErrorType.TRANSFER_FAILED.value, fatal=False,
                          message="SWML action: this host cannot load documents")
        return
    try:
        flow = await call.flow_loader(json.dumps(document))
    except Exception as error:
        call.trace.record("error", type=ErrorType.TRANSFER_FAILED.value, fatal=False,
                          message=f"SWML action: {error}")
        return
    if hard:
        executor.stack.clear()
        executor.stack.append(_frame(flow.main))
        return
    disposition = await Runner(call, executor.channel).run_section(flow.main, {})
    if disposition.startswith("hangup"):
        raise ScriptEnded(disposition)


def _frame(section: ir.Section) -> Frame:
    from interpreter.runtime.executor import Frame

    return Frame(section.body, section, {})


async def _converse(session: AiSession) -> None:
    params = session.verb.params
    if params.static_greeting:
        await _speak(session, params.static_greeting)
        session.messages.append(ChatMessage("assistant", params.static_greeting))
    elif not params.wait_for_user:
        await _turn(session)
    call = session.call
    started = call.now()
    silent_since = call.now()
    while session.ended is None:
        if params.hard_stop_time_s is not None and \
                call.now() - started >= params.hard_stop_time_s:
            await _hard_stop(session)
            return
        if session.pending_input:
            text = " ".join(session.pending_input)
            session.pending_input.clear()
            session.messages.append(ChatMessage("user", text))
            await _turn(session)
            silent_since = call.now()
            continue
        step = session.step
        if step is not None and step.gather_info is not None and step.name not in session.gathered:
            await gather.ask(session, step, step.gather_info)
            await _turn(session)
            continue
        if session.step is not None and session.step.skip_user_turn and session.fresh_step:
            # A step that speaks first: no user turn before it.
            session.fresh_step = False
            await _turn(session)
            continue
        # Deadlines are absolute and compared with a tolerance: float sums of
        # the clock must not leave a deadline a hair in the future forever.
        inactivity_at = silent_since + params.inactivity_timeout_ms / 1000
        attention_at = silent_since + params.attention_timeout_ms / 1000 \
            if params.attention_timeout_ms > 0 and not session.attention_sent else None
        hard_at = started + params.hard_stop_time_s \
            if params.hard_stop_time_s is not None else None
        deadline = min(t for t in (inactivity_at, attention_at, hard_at) if t is not None)
        event = await call.wait_for(_caller_words, max(deadline - call.now(), _TICK))
        if event is not None:
            if isinstance(event, ev.TranscriptReceived) and event.text.strip():
                session.pending_input.append(event.text)
                session.last_words_at = event.at
                session.attention_sent = False
            continue
        now = call.now() + _EPSILON
        if now >= inactivity_at:
            call.trace.record("inactivity_timeout", seconds=round(now - silent_since, 3))
            session.ended = "inactivity"
            return
        if attention_at is not None and now >= attention_at:
            # The caller went quiet: the model is asked to get their attention.
            call.trace.record("attention_timeout", seconds=round(now - silent_since, 3))
            session.attention_sent = True
            session.messages.append(ChatMessage("system", params.attention_timeout_prompt))
            await _turn(session)


async def _hard_stop(session: AiSession) -> None:
    """`hard_stop_time` reached: the model says its last words, then the ai verb ends."""
    params = session.verb.params
    session.call.trace.record("hard_stop", seconds=params.hard_stop_time_s)
    if params.hard_stop_prompt:
        session.messages.append(ChatMessage("system", params.hard_stop_prompt))
        await _turn(session)
    session.ended = "hard_stop"


def _caller_words(event: ev.Event) -> bool:
    return isinstance(event, ev.TranscriptReceived) and event.final and event.source == "caller"


async def _turn(session: AiSession) -> None:
    """Generate replies until the model has spoken without calling a tool."""
    for _ in range(MAX_TOOL_ROUNDS):
        try:
            text, calls = await _generate(session)
        except _Barged:
            return
        except LlmError as error:
            if await _llm_failed(session, error):
                continue
            return
        session.failures.pop(ErrorType.LLM_ERROR, None)
        session.failures.pop(ErrorType.LLM_TIMEOUT, None)
        session.messages.append(ChatMessage("assistant", text, tuple(calls)))
        if not calls:
            await actions.flush_post_process(session)
            if session.step is not None and session.step.end:
                session.ended = "end"
            return
        for call in calls:
            await _tool_call(session, call)
            if session.ended is not None:
                return
    session.call.trace.record("error", type=ErrorType.TOOL_INVALID_CALL.value, fatal=False,
                              message=f"more than {MAX_TOOL_ROUNDS} tool rounds in one turn")


async def _generate(session: AiSession) -> tuple[str, list[ToolCall]]:
    """One streamed generation, spoken sentence by sentence; raises _Barged
    when the caller interrupts and LlmError when the model fails."""
    call = session.call
    settings = session.verb.prompt.settings
    request = LlmRequest(
        (ChatMessage("system", prompt.system_prompt(session)), *session.messages),
        prompt.tools(session), settings.temperature, settings.top_p, settings.max_tokens,
        settings.presence_penalty, settings.frequency_penalty,
        context=session.context.name if session.context else "",
        step=session.step.name if session.step else "")
    epoch = call.new_epoch("generation")
    fillers, session.filler_prefix = session.filler_prefix.split(), ""

    async def work(effect_id: int) -> None:
        try:
            async for item in session.llm.stream(request):
                match item:
                    case TextDelta(text=text):
                        call.post(ev.LlmDelta(effect_id, text, epoch=epoch))
                    case ToolCallReady(call=tool):
                        call.post(ev.LlmToolCalled(effect_id, tool.id, tool.name,
                                                   tool.arguments, epoch=epoch))
                    case Finished(reason=reason, input_tokens=used, output_tokens=made):
                        call.post(ev.LlmFinished(effect_id, reason, used, made, epoch=epoch))
        except LlmError as error:
            call.post(ev.LlmFailed(effect_id, error.kind, str(error), error.retryable,
                                   epoch=epoch))

    started = call.now()
    effect = call.start_effect("llm", work, messages=len(request.messages),
                               tools=[t.name for t in request.tools])
    text, pending, calls = "", "", []
    playing = 0  # playout ids in flight; the newest one finishing means all played
    last_playout = 0
    finished = False
    first_token: float | None = None
    first_sentence: float | None = None
    tokens = 0

    def wanted(event: ev.Event) -> bool:
        if isinstance(event, ev.LlmDelta | ev.LlmToolCalled | ev.LlmFinished | ev.LlmFailed):
            return event.effect_id == effect
        return getattr(event, "source", None) == "caller" and isinstance(
            event, ev.PlayoutFinished | ev.SpeechStarted | ev.TranscriptReceived)

    while not (finished and not playing):
        event = await call.wait_for(wanted)
        match event:
            case ev.LlmDelta(text=delta):
                if first_token is None:
                    first_token = call.now()
                text += delta
                pending += delta
                *sentences, pending = _SENTENCE_END.split(pending)
                for sentence in sentences:
                    last_playout = _play(session, sentence)
                    first_sentence = first_sentence or call.now()
                    playing = 1
            case ev.LlmToolCalled(call_id=call_id, name=name, arguments=arguments):
                calls.append(ToolCall(call_id, name, arguments))
            case ev.LlmFinished(input_tokens=used, output_tokens=made):
                finished = True
                tokens = made
                session.input_tokens += used
                session.output_tokens += made
                if pending.strip():
                    last_playout = _play(session, pending.strip())
                    first_sentence = first_sentence or call.now()
                    playing = 1
                    pending = ""
            case ev.LlmFailed(error_kind=kind, message=message, retryable=retryable):
                _stop_speaking(session, playing)
                raise LlmError(kind, message, retryable=retryable)  # type: ignore[arg-type]
            case ev.PlayoutFinished(playout_id=done) if done == last_playout:
                playing = 0
            case ev.SpeechStarted() | ev.TranscriptReceived() if _barge_allowed(session):
                _barge(session, effect, playing, text, event, fillers)
            case ev.TranscriptReceived(text=said):
                session.pending_input.append(said)
    timing = _timing(session, text, started, first_token, first_sentence, tokens)
    call.trace.record("turn", text=text, tool_calls=[c.name for c in calls], **timing)
    session.turns.append(timing)
    return text, calls


def _timing(session: AiSession, text: str, started: float, first_token: float | None,
            first_sentence: float | None, tokens: int) -> dict[str, JSONValue]:
    """One turn's latency record, like the hosted platform's `times` entries:
    from the caller's final words to the first model token, to the first
    sentence handed to speech (the text runtime plays it at once, so that is
    also the first audio out)."""
    heard = session.last_words_at
    now = session.call.now()
    seconds = now - started
    return {
        "response": text, "response_word_count": len(text.split()),
        "eos_to_request_s": round(started - heard, 6) if heard is not None else None,
        "token_time_s": round(first_token - started, 6) if first_token else None,
        "utterance_latency_s": round(first_sentence - started, 6) if first_sentence else None,
        "audio_latency_s": round(first_sentence - (heard if heard is not None else started), 6)
        if first_sentence else None,
        "tokens": tokens, "seconds": round(seconds, 6),
        "tps": round(tokens / seconds, 3) if seconds > 0 and tokens else 0,
    }


def _play(session: AiSession, sentence: str) -> int:
    playout = session.call.next_id()
    session.executor.channel.play(playout, [Utterance("say", pronounced(session, sentence))])
    session.call.trace.record("say", playout=playout, text=sentence)
    return playout


def pronounced(session: AiSession, text: str) -> str:
    """The flow's `pronounce` rules applied to what is spoken (not to the history)."""
    for rule in session.verb.pronounce:
        flags = re.IGNORECASE if rule.ignore_case else 0
        text = re.sub(rf"\b{re.escape(rule.replace)}\b", rule.with_, text, flags=flags)
    return text


def _stop_speaking(session: AiSession, playing: int) -> str:
    if not playing:
        return ""
    heard = session.executor.channel.stop_playout()
    return heard.text


def _barge_allowed(session: AiSession) -> bool:
    return session.verb.params.barge is not ir.Barge.OFF


def _barge(session: AiSession, effect: int, playing: int, text: str, event: ev.Event,
           fillers: list[str]) -> None:
    """Stop speaking now; keep only what was heard; drop the rest of the generation."""
    call = session.call
    words = (_stop_speaking(session, playing) if playing else "").split()
    heard = " ".join(words[len(fillers):] if words[:len(fillers)] == fillers[:len(words)]
                     else words)
    call.cancel_effect(effect)
    call.new_epoch("barge-in")
    call.trace.record("barge_in", heard=heard, generated=text, by=event.type_name)
    if heard:
        session.messages.append(ChatMessage("assistant", heard))
    if isinstance(event, ev.TranscriptReceived):
        session.pending_input.append(event.text)
    raise _Barged()


async def _speak(session: AiSession, text: str) -> None:
    await session.executor.say(text)


async def _llm_failed(session: AiSession, error: LlmError) -> bool:
    """Speak the recovery phrase and say whether to retry the generation."""
    error_type = _LLM_KINDS.get(error.kind, ErrorType.LLM_ERROR)
    policy = session.policy(error_type)
    count = session.failures.get(error_type, 0) + 1
    session.failures[error_type] = count
    fatal = policy.fatal or not error.retryable or count > policy.max_retries
    phrase = policy.phrase if not fatal else _goodbye(session, policy.phrase)
    session.call.trace.record("error", type=error_type.value, fatal=fatal, message=str(error),
                              attempt=count, phrase=phrase,
                              next="hangup" if fatal else f"retry after {count} s")
    await _speak(session, phrase)
    if fatal:
        session.ended = f"error:{error_type.value}"
        session.hangup_after = True
        return False
    # Back off (count seconds) while still handling the caller's events.
    await session.call.wait_for(lambda e: False, float(count))
    return True


def _goodbye(session: AiSession, phrase: str) -> str:
    return phrase if "hang up" in phrase.lower() else \
        f"{phrase} I'm sorry, I have to end the call now. Goodbye."


async def _tool_call(session: AiSession, call: ToolCall) -> None:
    if call.name == prompt.NEXT_STEP:
        result = actions.change_step(session, _argument(call, "step"), "ai_function")
    elif call.name == prompt.CHANGE_CONTEXT:
        result = actions.change_context(session, _argument(call, "context"), "ai_function")
    else:
        result = await run_tool(session, call)
    session.messages.append(ChatMessage("tool", result, tool_call_id=call.id))


def _argument(call: ToolCall, name: str) -> str:
    try:
        value = json.loads(call.arguments or "{}").get(name)
    except (ValueError, AttributeError):
        value = None
    return str(value or "")

