"""The ai verb's session, run inside the call's actor.

The session starts (includes fetched, startup hook), greets, then converses:
each time the caller's words arrive, a turn (turn.py) streams the model's
reply to speech and runs its tools; between turns it keeps the timers
(attention, inactivity, hard stop, wait_for_user), holds, gathers answers and
handles speech that could not be recognized. When it ends, for whatever
reason, the hangup hook runs and the summary is delivered; then the context
is handed over and any transfer or SWML action takes effect.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import CallFault, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import FALLBACK_VOICE, Utterance
from interpreter.providers.llm.base import (
    ChatMessage,
    LlmProvider,
)
from interpreter.runtime import events as ev
from interpreter.runtime import faults
from interpreter.runtime.ai import actions, gather, recovery, summary, turn
from interpreter.runtime.ai.includes import fetch_includes
from interpreter.runtime.ai.next_move import Move
from interpreter.runtime.ai.session import AiSession
from interpreter.runtime.ai.tools import run_hook
from interpreter.runtime.call import playout_deadline
from interpreter.runtime.commands import refuse
from interpreter.runtime.state import CallState
from interpreter.runtime.tools.runner import ToolRunner

if TYPE_CHECKING:
    from interpreter.runtime.executor import Executor, Frame

_EPSILON = 1e-6
_TICK = 0.001  # the shortest wait, so a deadline always makes the clock move


def runner(llm: LlmProvider, *, tools: ToolRunner | None = None,
           start: tuple[str, str | None] | None = None,
           ) -> Callable[[Executor, ir.Ai], Awaitable[None]]:
    """The `ai_runner` a Call uses for its ai verbs, with this model and what
    runs its tools; a flow test adds mocks and a context (and step) to start in."""

    async def run(executor: Executor, verb: ir.Ai) -> None:
        await run_ai(executor, verb, llm, tools=tools, start=start)

    return run


async def run_ai(executor: Executor, verb: ir.Ai, llm: LlmProvider, *,
                 tools: ToolRunner | None = None,
                 start: tuple[str, str | None] | None = None) -> None:
    call = executor.call
    session = AiSession.start(call, executor, verb, llm)
    if tools is not None:
        session.tools = tools
    if start is not None:
        _start_at(session, *start)
    call.set_state(CallState.IN_AI)
    listening_before = executor.listening
    # The transport listens as the document says, in the session's language.
    session.tune_listening(language=session.tuning.language_code)
    call.trace.record("ai_started", session=session.session_id,
                      context=session.context.name if session.context else None,
                      step=session.step.name if session.step else None)
    _background_file(session)
    try:
        await fetch_includes(session)
        await run_hook(session, ("startup_hook", "start_hook"))
        await _converse(session)
    finally:
        actions.stop_background(session)
        # Run and delivered whatever ended the session, a hangup included.
        await _final_hook(session)
        summary.hand_over(session)
        call.trace.record("ai_ended", session=session.session_id, reason=session.next.why,
                          input_tokens=session.conversation.input_tokens,
                          output_tokens=session.conversation.output_tokens,
                          global_data=dict(session.global_data))
    call.carried = _handover(session)
    call.drop_held(ev.TranscriptReceived, "said to the agent, whose session has ended")
    executor.listen(listening_before)  # the ai verb's settings and barge-in end with it
    call.set_state(CallState.ANSWERED)
    call.vars["ai_result"] = "success" if not (session.next.why or "").startswith("error") \
        else "failed"
    for document, hard in session.next.swml:
        await _run_swml(executor, verb, document, hard)
    if session.next.state is Move.HANG_UP:
        from interpreter.runtime.executor import ScriptEnded

        raise ScriptEnded("hangup:ai")
    if session.next.section is not None:
        executor.stack.clear()
        executor.stack.append(_frame(session.next.section))


def _background_file(session: AiSession) -> None:
    """`background_file`: audio under the whole session (`background_file_loops`
    times, default until the session ends). A hold's music replaces it."""
    raw = session.verb.params.raw
    url, loops = raw.get("background_file"), raw.get("background_file_loops")
    if isinstance(url, str) and url:
        actions.start_background(session, url, loops=loops if isinstance(loops, int)
                                 and not isinstance(loops, bool) and loops > 0 else 0)


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
    return {"global_data": dict(session.global_data),
            "meta_data": {k: dict(v) for k, v in session.meta_data.items()},
            "summary": session.conversation.transcript(HANDOVER_MESSAGES)}


async def _run_swml(executor: Executor, verb: ir.Ai, document: object, hard: bool) -> None:
    """A SWML action: run it inline, or (`transfer: true`) replace the script."""
    from interpreter.runtime.executor import Executor as Runner
    from interpreter.runtime.executor import ScriptEnded

    call = executor.call
    try:
        if call.flow_loader is None:
            raise ValueError("this host cannot load documents")
        flow = await call.flow_loader(json.dumps(document))
    except Exception as error:
        # The ai session is over: the flow's phrase, then the flow goes on.
        phrase = verb.error_recovery[ErrorType.TRANSFER_FAILED].phrase
        faults.record(call, ErrorType.TRANSFER_FAILED, f"SWML action: {error}", fatal=False,
                      phrase=phrase, next="the flow continues after the ai verb")
        await executor.say(phrase)
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
    call = session.call
    if gather.pending(session):
        gather.begin(session)
    if params.static_greeting:
        await _greet(session, params.static_greeting)
    elif not params.wait_for_user:
        await turn.take(session)
    started = call.now()
    silent_since = call.now()
    speaking_since: float | None = None  # the caller started speaking, no words yet
    while not session.next.over:
        if params.hard_stop_time_s is not None and \
                call.now() - started >= params.hard_stop_time_s:
            await _hard_stop(session)
            return
        if call.commands:
            # Between turns: the safe point for operator commands.
            await _run_commands(session)
            silent_since = call.now()
            continue
        if session.tuning.hold_seconds is not None:
            await _hold(session, session.tuning.hold_seconds)
            silent_since = call.now()
            continue
        if session.conversation.pending_input:
            session.tuning.wait_for_user, session.tuning.wait_for_user_until = False, None
            session.tuning.after_noise = False
            session.conversation.take_input(session.tuning.hints, session.call.trace)
            await turn.take(session)
            silent_since = call.now()
            continue
        if gather.pending(session):
            # The model asks the first question at once.
            gather.begin(session)
            await turn.take(session)
            continue
        if session.step is not None and session.step.skip_user_turn and session.fresh_step:
            # A step that speaks first: no user turn before it.
            session.fresh_step = False
            await turn.take(session)
            continue
        # Deadlines are absolute and compared with a tolerance: float sums of
        # the clock must not leave a deadline a hair in the future forever.
        inactivity_at = silent_since + params.inactivity_timeout_ms / 1000
        attention_at = silent_since + params.attention_timeout_ms / 1000 \
            if params.attention_timeout_ms > 0 and not session.attention_sent \
            and not session.tuning.wait_for_user and speaking_since is None else None
        if speaking_since is not None:
            # The caller is talking: not silent, however long the sentence, but
            # words that never come end in an inactivity timeout all the same.
            inactivity_at = max(inactivity_at, speaking_since
                                + session.tuning.listening.speech_timeout_ms / 1000)
        hard_at = started + params.hard_stop_time_s \
            if params.hard_stop_time_s is not None else None
        reply_at = session.tuning.wait_for_user_until
        deadline = min(t for t in (inactivity_at, attention_at, hard_at, reply_at)
                       if t is not None)
        event = await call.wait_for(_caller_input(session), max(deadline - call.now(), _TICK))
        if not isinstance(event, ev.SpeechStarted | ev.PlayoutFinished | ev.PlayoutFailed
                          | ev.Command):
            speaking_since = None
        match event:
            case ev.SpeechStarted():
                speaking_since = call.now()
                continue
            case ev.Command():
                call.commands.append(event)  # run at the top of the loop, in order
                continue
            case ev.TranscriptReceived(text=text) if text.strip():
                session.conversation.pending_input.append(text)
                session.conversation.last_words_at = event.at
                session.attention_sent = False
                recovery.succeeded(session, ErrorType.STT_ERROR)
                continue
            case ev.TranscriptionFailed(reason=reason):
                outcome = recovery.classify(session, ErrorType.STT_ERROR, reason,
                                            then="asked the caller to repeat")
                await session.executor.say(outcome.phrase)
                silent_since = call.now()
                continue
            case ev.PlayoutFinished() | ev.PlayoutFailed():
                # The background audio ended by itself.
                if isinstance(event, ev.PlayoutFailed):
                    turn.background_failed(session, event.reason)
                session.tuning.background = None
                continue
            case ev.Event():
                continue
        now = call.now() + _EPSILON
        if reply_at is not None and now >= reply_at:
            noise, session.tuning.after_noise = session.tuning.after_noise, False
            call.trace.record("wait_for_user_elapsed",
                              why="quiet after a barge-in on noise" if noise
                              else "wait_for_user")
            session.tuning.wait_for_user_until = None
            if noise:
                session.conversation.say("system", turn.NOISE_PROMPT)
            await turn.take(session)
            silent_since = call.now()
            continue
        if now >= inactivity_at:
            call.trace.record("inactivity_timeout", seconds=round(now - silent_since, 3))
            session.move(Move.END, "inactivity")
            return
        if attention_at is not None and now >= attention_at:
            # The caller went quiet: the model is asked to get their attention.
            call.trace.record("attention_timeout", seconds=round(now - silent_since, 3))
            session.attention_sent = True
            session.conversation.say("system", params.attention_timeout_prompt)
            await turn.take(session, offer_tools=session.tuning.functions_on_speaker_timeout)


async def _greet(session: AiSession, greeting: str) -> None:
    """`static_greeting`: spoken as written; the caller may interrupt it unless
    `static_greeting_no_barge`, and the history keeps what they heard."""
    await _speak(session, greeting, session.tuning.barge.greeting)


async def _run_commands(session: AiSession) -> None:
    """Operator commands kept for this safe point, in order (runtime/commands.py)."""
    call = session.call
    while call.commands and not session.next.over:
        command = call.commands.popleft()
        match command:
            case ev.SayRequested(text=text):
                # Spoken as the agent's own words: the caller may barge in, and
                # the model sees what they heard as an assistant message.
                await _speak(session, text, True)
            case ev.TransferRequested():
                # The session ends as a SWAIG transfer ends it (hangup hook,
                # summary); the executor then makes the transfer between verbs.
                call.commands.appendleft(command)
                session.move(Move.TRANSFER, "transfer")
            case ev.UnholdRequested():
                refuse(call, command, "the call is not on hold")


async def _speak(session: AiSession, greeting: str, interruptible: bool) -> None:
    """Agent words that are not the model's (the static greeting, an
    operator's say): the history keeps what the caller heard of them."""
    call = session.call
    policy = session.tuning.barge
    playout = turn.play(session, greeting, interruptible=interruptible)

    def wanted(event: ev.Event) -> bool:
        if isinstance(event, ev.PlayoutFinished | ev.PlayoutFailed):
            return event.playout_id == playout
        return getattr(event, "source", None) == "caller" and (
            ev.barges(policy, event, interruptible=interruptible)
            or (isinstance(event, ev.TranscriptReceived) and event.final))

    deadline = call.now() + playout_deadline([Utterance("say", greeting)])
    while True:
        event = await call.wait_for(wanted, deadline - call.now())
        if isinstance(event, ev.TranscriptReceived) and \
                not ev.barges(policy, event, interruptible=interruptible):
            # Words that do not interrupt the greeting are answered after it.
            turn.barge_declined(session, event, interruptible)
            session.conversation.pending_input.append(event.text)
            continue
        break
    if event is None:
        session.executor.channel.stop_playout()
        faults.record(call, ErrorType.MEDIA_ERROR,
                      "the transport never reported the end of the greeting", fatal=False,
                      next="the conversation goes on")
    elif isinstance(event, ev.PlayoutFailed):
        # The voice failed: the executor's fallback voice says it again.
        faults.record(call, event.error_type, event.reason, fatal=False,
                      next="retry with the fallback voice")
        session.executor.voice = FALLBACK_VOICE
        await session.executor.say(greeting)
    elif event is not None and (not isinstance(event, ev.PlayoutFinished)
                                or isinstance(event, ev.PlayoutStopped)):
        heard = session.executor.channel.stop_playout().text
        turn.record_barge_in(call, heard, greeting, event)
        if isinstance(event, ev.TranscriptReceived) and event.final:
            session.conversation.pending_input.append(event.text)
        if heard:
            session.conversation.say("assistant", heard, interrupted=True)
        return
    if greeting:
        session.conversation.say("assistant", greeting)


def _caller_input(session: AiSession) -> Callable[[ev.Event], bool]:
    """The caller starting to speak, their final words or failed ones, and the
    end of background audio."""
    def accept(event: ev.Event) -> bool:
        if isinstance(event, ev.PlayoutFinished | ev.PlayoutFailed):
            return event.playout_id == session.tuning.background and event.source == "caller"
        return isinstance(event, ev.SpeechStarted | ev.TranscriptReceived
                          | ev.TranscriptionFailed) and \
            event.source == "caller" and getattr(event, "final", True)
    return accept


async def _hold(session: AiSession, seconds: float) -> None:
    """The `hold` action: hold music, the caller's words ignored (ASR paused)
    until the timeout or an operator's unhold (the platform's `ai_unhold`);
    then the agent is back and says so. A transfer command ends it too."""
    call = session.call
    session.tuning.hold_seconds = None
    music = session.verb.params.raw.get("hold_music")
    actions.start_background(session, music if isinstance(music, str) and music
                             else actions.DEFAULT_HOLD_MUSIC, loops=0)
    call.trace.record("hold", seconds=seconds)
    session.tune_listening(paused=True)
    until = call.hold_until = call.now() + seconds
    why = "timeout"
    try:
        while (left := until - call.now()) > _EPSILON:
            event = await call.wait_for(_ends_hold_or_words, left)
            if isinstance(event, ev.TranscriptReceived):
                call.trace.record("ignored_on_hold", text=event.text)
            elif isinstance(event, ev.UnholdRequested):
                why = "unhold command"
                break
            elif isinstance(event, ev.TransferRequested):
                call.commands.appendleft(event)  # made at the loop's safe point
                why = "transfer command"
                break
    finally:
        call.hold_until = None
    actions.stop_background(session)
    call.trace.record("unhold", why=why)
    session.tune_listening(paused=False)
    if why == "transfer command":
        return  # the caller is handed on, not welcomed back
    session.conversation.messages.append(ChatMessage(
        "system", "The hold is over and the caller is back on the line: tell them you are "
        "back and carry on."))
    await turn.take(session)


async def _hard_stop(session: AiSession) -> None:
    """`hard_stop_time` reached: the model says its last words, then the ai verb ends."""
    params = session.verb.params
    session.call.trace.record("hard_stop", seconds=params.hard_stop_time_s)
    if params.hard_stop_prompt:
        session.conversation.say("system", params.hard_stop_prompt)
        await turn.take(session)
    session.move(Move.END, "hard_stop")


def _ends_hold_or_words(event: ev.Event) -> bool:
    """The caller's words (ignored on hold), or a command that ends the hold
    (a say waits until the hold is over: the caller is not listening)."""
    if isinstance(event, ev.UnholdRequested | ev.TransferRequested):
        return True
    return isinstance(event, ev.TranscriptReceived) and event.final and event.source == "caller"
