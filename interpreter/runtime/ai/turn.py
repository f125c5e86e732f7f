"""One agent turn: the model's replies streamed to speech, its tool calls run.

Each sentence goes to speech as soon as it is complete. When the caller barges
in, playout stops in the same tick, the generation is cancelled (its epoch
passes, so nothing more of it is spoken), and the conversation keeps only the
words the caller heard. A voice that fails mid-reply is a tts_error: the
recovery phrase and the unheard rest of the reply are spoken in the fallback
voice. Every tool call the model makes gets a result in the history, even one
cancelled by a barge-in or never run, so the model is never left with a tool
"in progress".
"""

from __future__ import annotations

import re

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import FALLBACK_VOICE
from interpreter.patterns import PatternTimeout
from interpreter.providers.llm.base import (
    ChatMessage,
    Finished,
    LlmError,
    LlmRequest,
    TextDelta,
    ToolCall,
    ToolCallReady,
)
from interpreter.runtime import events as ev
from interpreter.runtime import faults
from interpreter.runtime.ai import actions, fillers, gather, prompt, recovery
from interpreter.runtime.ai.next_move import Move
from interpreter.runtime.ai.session import AiSession
from interpreter.runtime.ai.tools import run_tool
from interpreter.runtime.call import LONGEST_FILE, PLAYOUT_GRACE, Call
from interpreter.runtime.tools.limits import outside_json

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A model that keeps calling tools without speaking is stopped after this many
# rounds in one turn (back_to_back_functions raises it).
MAX_TOOL_ROUNDS = 8
# A model that sends nothing for this long (no token, no end) has stalled: an
# llm_timeout, whatever the provider's own timeouts are.
LLM_STALL_SECONDS = 30.0


class _Interrupted(Exception):
    """The caller barged in, or the reply could not be spoken: the turn is over."""


async def take(session: AiSession, *, offer_tools: bool = True) -> None:
    """Generate replies until the model has spoken without calling a tool."""
    rounds = 0
    try:
        # The limit is read each round: back_to_back_functions may raise it mid-turn.
        while rounds < (session.tuning.tool_round_limit or MAX_TOOL_ROUNDS):
            rounds += 1
            if session.tuning.background_wait:
                await _background_done(session)
            try:
                text, calls = await _generate(session, offer_tools)
            except _Interrupted:
                return
            except LlmError as error:
                if await _llm_failed(session, error):
                    continue
                return
            recovery.succeeded(session, ErrorType.LLM_ERROR, ErrorType.LLM_TIMEOUT)
            session.conversation.messages.append(ChatMessage("assistant", text, tuple(calls)))
            if not calls:
                await actions.flush_post_process(session)
                if session.step is not None and session.step.end and ends_conversation(text):
                    session.move(Move.END, "end")
                return
            for call in calls:
                if session.next.over or session.interrupted:
                    why = "the call ended" if session.next.over else "the caller interrupted"
                    session.conversation.record_result(call, f"Not run: {why} first.")
                    continue
                await _tool_call(session, call)
            if session.next.over or session.interrupted:
                session.interrupted = False
                return
            if session.tuning.wait_for_user or session.tuning.wait_for_user_until is not None:
                session.call.trace.record("reply_deferred", why="wait_for_user")
                return
            if session.conversation.pending_input:
                # The caller spoke while the tools ran: the next reply hears it.
                session.conversation.take_input(session.tuning.hints, session.call.trace)
        faults.record(session.call, ErrorType.TOOL_INVALID_CALL,
                      f"more than {rounds} tool rounds in one turn", fatal=False,
                      next="the turn ends")
    finally:
        if not session.tuning.chain_forever:
            session.tuning.tool_round_limit = None


def _trace_request(session: AiSession, request: LlmRequest) -> None:
    """What the model was asked with — the system prompt (when it changed
    since the session's last request) and the tools offered — since that is
    what a conversation is debugged from."""
    system = request.messages[0].content if request.messages else ""
    changed = system != session.last_system_prompt
    session.last_system_prompt = system
    session.call.trace.record("llm_request", model=request.model,
                              system=system if changed else "(unchanged)",
                              tools=[t.name for t in request.tools],
                              messages=len(request.messages))


def ends_conversation(reply: str) -> bool:
    """The rule of an `end: true` step: the conversation ends after the
    agent's reply in it that asks the caller nothing (its last sentence is
    not a question). A reply that asks ("Shall I book it?") waits for the
    answer, and the step's tools run as in any step."""
    sentences = _SENTENCE_END.split(reply.strip())
    return bool(reply.strip()) and not sentences[-1].rstrip("\"')»” ").endswith("?")


async def _background_done(session: AiSession) -> None:
    """playback_bg with wait: the reply waits until the file has played."""
    playout = session.tuning.background
    session.tuning.background_wait = False
    if playout is None or playout in session.call.ended_playouts:
        return

    def done(event: ev.Event) -> bool:
        return isinstance(event, ev.PlayoutFinished | ev.PlayoutFailed) and \
            event.playout_id == playout

    event = await session.call.wait_for(done, LONGEST_FILE + PLAYOUT_GRACE)
    session.tuning.background = None
    if isinstance(event, ev.PlayoutFailed):
        background_failed(session, event.reason)


def background_failed(session: AiSession, reason: str) -> None:
    # Background audio is decoration: its failure never ends the call.
    faults.record(session.call, ErrorType.MEDIA_ERROR, reason, fatal=False,
                  next="the conversation goes on without it")
    session.tuning.background = None


def _request(session: AiSession, offer_tools: bool) -> LlmRequest:
    settings = session.verb.prompt.settings
    tuned = session.tuning.llm_settings
    return LlmRequest(
        (ChatMessage("system", prompt.system_prompt(session)), *session.conversation.messages),
        prompt.tools(session) if offer_tools else (),
        tuned.get("temperature", settings.temperature), tuned.get("top_p", settings.top_p),
        int(tuned.get("max_tokens", settings.max_tokens)),
        tuned.get("presence_penalty", settings.presence_penalty),
        tuned.get("frequency_penalty", settings.frequency_penalty),
        model=settings.model)


async def _generate(session: AiSession, offer_tools: bool) -> tuple[str, list[ToolCall]]:
    """One streamed generation, spoken sentence by sentence; raises
    _Interrupted when the caller barges in and LlmError when the model fails."""
    call = session.call
    request = _request(session, offer_tools)
    conversation = session.conversation
    conversation.apply_edits()
    epoch = call.new_epoch("generation")
    queued_fillers, conversation.filler_prefix = conversation.filler_prefix.split(), ""

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
    effect = call.start_effect("llm", work, ErrorType.LLM_ERROR)
    _trace_request(session, request)
    text, pending, calls = "", "", []
    spoken: list[tuple[int, str]] = []  # (playout id, sentence) handed to speech
    playing = 0  # playout ids in flight; the newest one finishing means all played
    last_playout = 0
    finished = False
    first_token: float | None = None
    first_sentence: float | None = None
    tokens = 0
    thinking = fillers.for_thinking(session)
    # Sentences heard in earlier runs of speech: before a failed voice cut the
    # turn, or before a pause in the reply (a slow model) ended a run, since
    # a stop reports only what was heard of the run it stops.
    heard_earlier: list[str] = []
    counted = 0  # spoken[:counted] are in heard_earlier

    policy = session.tuning.barge

    def wanted(event: ev.Event) -> bool:
        if isinstance(event, ev.LlmDelta | ev.LlmToolCalled | ev.LlmFinished | ev.LlmFailed
                      | ev.EffectFailed):
            return event.effect_id == effect
        return getattr(event, "source", None) == "caller" and isinstance(
            event, ev.PlayoutFinished | ev.PlayoutFailed | ev.SpeechStarted
            | ev.TranscriptReceived)

    def speak(sentence: str) -> None:
        nonlocal last_playout, playing, first_sentence
        last_playout = play(session, sentence)
        spoken.append((last_playout, sentence))
        first_sentence = first_sentence or call.now()
        playing = 1

    while not (finished and not playing):
        slow = thinking is not None and first_sentence is None and not playing
        # Every wait ends: a model that stalls is an llm_timeout, a transport
        # that never reports the end of speech has stopped speaking.
        limit = LLM_STALL_SECONDS if not finished else \
            PLAYOUT_GRACE + 0.6 * len(" ".join(t for _, t in spoken).split())
        event = await call.wait_for(wanted, fillers.FILLER_AFTER if slow else limit)
        match event:
            case None if not finished and not slow:
                _stop_speaking(session, playing)
                raise LlmError("timeout", f"the model sent nothing for {limit:g} seconds")
            case None if finished and not slow:
                session.executor.channel.stop_playout()
                faults.record(call, ErrorType.MEDIA_ERROR,
                              "the transport never reported the end of the reply",
                              fatal=False, next="the turn ends")
                playing = 0
            case None if thinking is not None:
                # The model is slow to start: a thinking filler, not silence.
                last_playout = fillers.play(session, thinking, "thinking")
                queued_fillers += thinking.split()
                session.conversation.filler_prefix, thinking, playing = "", None, 1
            case ev.LlmDelta(text=delta):
                if first_token is None:
                    first_token = call.now()
                text += delta
                pending += delta
                *sentences, pending = _SENTENCE_END.split(pending)
                for sentence in sentences:
                    speak(sentence)
            case ev.LlmToolCalled(call_id=call_id, name=name, arguments=arguments):
                calls.append(ToolCall(call_id, name, arguments))
            case ev.LlmFinished(input_tokens=used, output_tokens=made):
                finished = True
                tokens = made
                session.conversation.input_tokens += used
                session.conversation.output_tokens += made
                if pending.strip():
                    speak(pending.strip())
                    pending = ""
            case ev.LlmFailed(error_kind=kind, message=message, retryable=retryable):
                _stop_speaking(session, playing)
                raise LlmError(kind, message, retryable=retryable)  # type: ignore[arg-type]
            case ev.EffectFailed(error=message):
                # Anything else the stream raised: a classified llm_error.
                _stop_speaking(session, playing)
                raise LlmError("provider", message)
            case ev.PlayoutStopped() if playing:
                # The media path decided a barge-in at the frame (on noise,
                # say, which the runtime does not hear itself).
                _barge(session, effect, playing, text, event, queued_fillers, heard_earlier)
            case ev.PlayoutFinished(playout_id=done) if done == last_playout:
                playing = 0
                heard_earlier += [sentence for _, sentence in spoken[counted:]]
                counted, queued_fillers = len(spoken), []
            case ev.PlayoutFailed(playout_id=failed, reason=reason) \
                    if failed != session.tuning.background:
                # What played before the failure was heard; the new playout
                # opens with the recovery phrase, which is not the model's.
                played_before = [t for p, t in spoken[counted:] if p < failed]
                last_playout, phrase = await _voice_failed(session, effect, spoken, failed,
                                                           reason)
                heard_earlier += played_before
                counted = len(spoken) - len([p for p, _ in spoken if p > failed])
                queued_fillers = phrase.split()
                playing = 1
            case ev.PlayoutFailed(reason=reason):
                background_failed(session, reason)
            case ev.SpeechStarted() | ev.TranscriptReceived() if ev.barges(policy, event):
                _barge(session, effect, playing, text, event, queued_fillers, heard_earlier)
            case ev.TranscriptReceived(text=said, final=True):
                if playing:
                    barge_declined(session, event, True)
                session.conversation.pending_input.append(said)
    timing = _timing(session, text, started, first_token, first_sentence, tokens)
    call.trace.record("turn", text=text, tool_calls=[c.name for c in calls], **timing)
    session.conversation.turns.append(timing)
    if not calls:
        # Answered: a later turn the caller did not prompt (an attention
        # prompt, a wait that ran out) is not timed from these words.
        session.conversation.last_words_at = None
    return text, calls


async def _voice_failed(session: AiSession, effect: int, spoken: list[tuple[int, str]],
                        failed: int, reason: str) -> tuple[int, str]:
    """Speech synthesis failed from playout `failed` on, so nothing after it
    played. Recovered: the phrase, then the unheard sentences, in the fallback
    voice; the id of the last playout queued and the phrase. Fatal: the
    goodbye, and the turn ends."""
    executor = session.executor
    unheard = [(playout, sentence) for playout, sentence in spoken if playout >= failed]
    outcome = recovery.classify(session, ErrorType.TTS_ERROR, reason,
                                then="fallback voice, unheard words spoken again",
                                voice=str(executor.voice or ""))
    executor.voice = FALLBACK_VOICE
    if outcome.fatal:
        session.call.cancel_effect(effect)
        session.call.new_epoch("tts failed")
        await executor.say(outcome.phrase)
        raise _Interrupted()
    del spoken[len(spoken) - len(unheard):]
    last = fillers.play(session, outcome.phrase, "recovery")
    session.conversation.filler_prefix = ""
    for _, sentence in unheard:
        last = play(session, sentence)
        spoken.append((last, sentence))
    return last, outcome.phrase


def _timing(session: AiSession, text: str, started: float, first_token: float | None,
            first_sentence: float | None, tokens: int) -> dict[str, JSONValue]:
    """One turn's latency record, like the hosted platform's `times` entries:
    from the caller's final words to the first model token, to the first
    sentence handed to speech (the text runtime plays it at once, so that is
    also the first audio out)."""
    heard = session.conversation.last_words_at
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


def play(session: AiSession, sentence: str, *, interruptible: bool = True) -> int:
    playout = session.call.next_id()
    session.executor.channel.play(playout, [session.utterance(sentence, interruptible)])
    voice = session.executor.voice
    session.call.trace.record("say", playout=playout, text=sentence,
                              voice=str(voice) if voice is not None else "")
    return playout


def barge_declined(session: AiSession, event: ev.TranscriptReceived,
                   interruptible: bool) -> None:
    """The caller's words while the agent spoke did not interrupt it: say why
    in the trace (they are answered in the next turn)."""
    session.call.trace.record("barge_declined", text=event.text,
                              why=_why_declined(session.tuning.barge, event, interruptible))


def _why_declined(policy: ir.BargePolicy, event: ev.TranscriptReceived,
                  interruptible: bool) -> str:
    if not interruptible:
        return "the utterance cannot be interrupted"
    if policy.mode is ir.Barge.OFF:
        return "barge-in is off"
    if len(event.text.split()) < policy.min_words:
        return f"fewer than barge_min_words ({policy.min_words})"
    if policy.match is not None:
        try:
            if policy.match.search(event.text) is None:
                return "no match for barge_match_string"
        except PatternTimeout as timeout:
            return f"barge_match_string was stopped: {timeout}"
    if event.confidence < policy.confidence:
        return f"confidence under {policy.confidence}"
    return "enable_barge mode"


# After a barge-in on noise, how long the agent waits for the caller's words.
NOISE_QUIET_S = 1.5
NOISE_PROMPT = ("A loud noise on the caller's line cut you off, and the caller has said "
                "nothing. Carry on briefly from where you were cut off.")


def record_barge_in(call: Call, heard: str, generated: str, event: ev.Event) -> None:
    """The `barge_in` record: `by` the event that decided it, and the media
    path's cause when the path decided it at the frame."""
    cause = {"cause": event.cause} if isinstance(event, ev.PlayoutStopped) else {}
    call.trace.record("barge_in", heard=heard, generated=generated, by=event.type_name,
                      **cause)


def _stop_speaking(session: AiSession, playing: int) -> str:
    if not playing:
        return ""
    heard = session.executor.channel.stop_playout()
    return heard.text


def _barge(session: AiSession, effect: int, playing: int, text: str, event: ev.Event,
           queued_fillers: list[str], heard_earlier: list[str]) -> None:
    """Stop speaking now; keep only what was heard; drop the rest of the generation."""
    call = session.call
    words = (_stop_speaking(session, playing) if playing else "").split()
    lead = len(queued_fillers)
    words = words[lead:] if words[:lead] == queued_fillers[:len(words)] else words
    heard = " ".join([*heard_earlier, *words])
    call.cancel_effect(effect)
    call.new_epoch("barge-in")
    record_barge_in(call, heard, text, event)
    if heard:
        session.conversation.say("assistant", heard, interrupted=True)
    if isinstance(event, ev.PlayoutStopped) and event.cause == "noise":
        # Noise has no words to answer: if the caller says nothing once it
        # passes, the agent goes on rather than sit in silence.
        session.tuning.wait_for_user_until = call.now() + NOISE_QUIET_S
        session.tuning.after_noise = True
    elif session.acknowledged < session.verb.params.acknowledge_interruptions:
        # acknowledge_interruptions: the model is told it was talked over.
        session.acknowledged += 1
        session.conversation.say("system", session.verb.params.interrupt_prompt)
    if isinstance(event, ev.TranscriptReceived) and event.final:
        session.conversation.pending_input.append(event.text)
    raise _Interrupted()


async def _llm_failed(session: AiSession, error: LlmError) -> bool:
    """Speak the recovery phrase and say whether to retry the generation."""
    outcome = recovery.classify(session, error.error_type, str(error),
                                retryable=error.retryable, then="retry after {attempt} s")
    await session.executor.say(outcome.phrase)
    if outcome.fatal:
        return False
    # Back off (attempt seconds) while still handling the caller's events.
    await session.call.wait_for(lambda e: False, float(outcome.attempt))
    return True


async def _tool_call(session: AiSession, call: ToolCall) -> None:
    internal = (prompt.NEXT_STEP, prompt.CHANGE_CONTEXT, prompt.CHANGE_LANGUAGE)
    if call.name in internal:
        filler = fillers.for_internal(session, call.name)
        if filler:
            fillers.play(session, filler, "internal", function=call.name)
    if call.name == prompt.NEXT_STEP:
        result = actions.change_step(session, _argument(call, "step"), "ai_function")
    elif call.name == prompt.CHANGE_CONTEXT:
        result = actions.change_context(session, _argument(call, "context"), "ai_function")
    elif call.name == prompt.CHANGE_LANGUAGE:
        result = actions.change_language(session, _argument(call, "language"))
    elif call.name == gather.SUBMIT:
        result = gather.submit(session, call)
    else:
        result = await run_tool(session, call)
    session.conversation.record_result(call, result)


def _argument(call: ToolCall, name: str) -> str:
    try:
        value = outside_json(call.arguments or "{}").get(name)  # type: ignore[union-attr]
    except (ValueError, AttributeError):
        value = None
    return str(value or "")
