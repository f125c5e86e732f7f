"""SWAIG reply actions applied to the live call (SignalWire's SWAIG function
results), and moves
between steps and contexts.

Actions run in order. A reply with `post_process` holds its actions until
the agent has finished speaking its next reply. Moves are checked against the
document: the model may only go where the current step allows; an action may
go to any step of the current context or any context. An illegal move is a
state_error the model hears about, never a crash.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import TYPE_CHECKING

from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import FALLBACK_VOICE
from interpreter.runtime import faults
from interpreter.runtime.ai import fillers, gather, recovery
from interpreter.runtime.ai.next_move import Move
from interpreter.runtime.ai.session import voice_of
from interpreter.runtime.ai.templates import render
from interpreter.runtime.tools import replies

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

MAX_HOLD_SECONDS = 900.0
DEFAULT_HOLD_SECONDS = 300.0
# Hold music when the flow sets no params.hold_music: the media runtime's own
# tone, so a caller on hold never hears dead air.
DEFAULT_HOLD_MUSIC = "builtin:hold"
# back_to_back_functions: how many tool rounds one turn may chain.
CHAINED_TOOL_ROUNDS = 32


def change_step(session: AiSession, name: str, trigger: str) -> str:
    step = session.step
    context = session.context
    if context is None or step is None:
        return _illegal(session, f'there are no steps to move to ("{name}")')
    allowed = step.valid_steps if trigger == "ai_function" else context.steps
    target = next((s for s in allowed if s.name == name), None)
    if target is None:
        valid = ", ".join(s.name for s in allowed) or "none"
        every = [s.name for s in context.steps]
        if name not in every:
            return _illegal(session, f'no step named "{name}" in context "{context.name}"'
                            f"{_did_you_mean(name, every)}; valid: {valid}")
        return _illegal(session, f'step "{name}" is not reachable from "{step.name}"; '
                        f"valid: {valid}")
    session.call.trace.record("step_change", old=step.name, new=target.name, trigger=trigger)
    session.step = target
    session.fresh_step = True
    _entered(session)
    return f"Moved to step {target.name}."


def change_context(session: AiSession, name: str, trigger: str) -> str:
    step = session.step
    contexts = step.valid_contexts if (trigger == "ai_function" and step is not None) \
        else session.verb.contexts
    target = next((c for c in contexts if c.name == name), None)
    if target is None:
        valid = ", ".join(c.name for c in contexts) or "none"
        every = [c.name for c in session.verb.contexts]
        if name not in every:
            return _illegal(session, f'no context named "{name}"{_did_you_mean(name, every)}; '
                            f"valid: {valid}")
        where = f' from step "{step.name}"' if step is not None else ""
        return _illegal(session, f'context "{name}" is not reachable{where}; valid: {valid}')
    old = session.context.name if session.context else None
    session.call.trace.record("context_change", old=old, new=target.name, trigger=trigger,
                              step=target.first_step.name)
    leaving = session.context.exit_fillers if session.context is not None else {}
    for kind, filler_map in (("exit", leaving), ("enter", target.enter_fillers)):
        filler = fillers.from_map(session, filler_map)
        if filler:
            fillers.play(session, filler, kind, context=target.name)
    session.context = target
    session.step = target.first_step
    session.fresh_step = True
    # The step's `reset` applies when it navigates to a context, else the
    # context's own (its system_prompt is part of prompt.system_prompt).
    leaving_step = step.reset if step is not None else None
    if leaving_step is not None and leaving_step.system_prompt is not None:
        session.tuning.prompt_override = (render(leaving_step.system_prompt, session),
                                   leaving_step.full_reset)
    reset = leaving_step or target.reset
    if reset is not None and reset.consolidate:
        session.conversation.consolidate()
    elif target.isolated or (reset is not None and reset.full_reset):
        session.conversation.messages.clear()
    if reset is not None and reset.user_prompt is not None:
        session.conversation.say("user", render(reset.user_prompt, session))
    _entered(session)
    return f"Switched to context {target.name}, step {target.first_step.name}."


def _entered(session: AiSession) -> None:
    """A step that gathers starts asking as soon as it is entered."""
    session.gathering = None
    if gather.pending(session):
        gather.begin(session)


def change_language(session: AiSession, name: str) -> str:
    target = next((lang for lang in session.verb.languages if lang.name == name), None)
    if target is None:
        return _illegal(session, f'no language "{name}"; available: '
                        + ", ".join(lang.name for lang in session.verb.languages))
    old = session.tuning.language.name if session.tuning.language is not None else None
    session.tuning.language = target
    executor = session.executor
    if target.voice and executor.voice != FALLBACK_VOICE:
        executor.voice = voice_of(target)
    session.tune_listening(language=target.code)
    session.call.trace.record("language_change", old=old, new=target.name, code=target.code,
                              voice=str(executor.voice or ""))
    return f"Now speaking {target.name}."


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _illegal(session: AiSession, message: str) -> str:
    """An illegal move is a state_error the model is told about, so it can correct it."""
    faults.record(session.call, ErrorType.STATE_ERROR, message, fatal=False,
                  next="told the model")
    return f"Error: {message}."


async def apply(session: AiSession, actions: tuple[replies.ReplyAction, ...],
                post_process: bool, token: str = "", tool_call_id: str = "") -> None:
    """Apply in order; `token` is the calling function's meta_data scope,
    `tool_call_id` the call whose history entries an action may rewrite."""
    if post_process:
        session.post_actions.extend((action, token, tool_call_id) for action in actions)
        return
    for action in actions:
        await _apply_one(session, action, token, tool_call_id)


async def flush_post_process(session: AiSession) -> None:
    held, session.post_actions = session.post_actions, []
    for action, token, tool_call_id in held:
        await _apply_one(session, action, token, tool_call_id)


async def _apply_one(session: AiSession, action: replies.ReplyAction, token: str,
                     tool_call_id: str) -> None:
    trace = session.call.trace
    params = session.verb.params
    why = _not_applicable(action, params.swaig_set_global_data, tool_call_id)
    if why is not None:
        trace.record("action_ignored", action=action.name, value=action.value, why=why)
        return
    if isinstance(action, replies.Unknown):
        trace.record("action_unknown", action=action.name)
        return
    trace.record("action", action=action.name, value=action.value)
    match action:
        case replies.Say(text=text):
            await session.executor.say(text)
        case replies.Stop():
            session.move(Move.END, "stop")
        case replies.HangUp():
            session.move(Move.HANG_UP, "hangup")
        case replies.SetGlobalData(values=values):
            session.global_data.update(values)
        case replies.UnsetGlobalData(keys=keys):
            for key in keys:
                session.global_data.pop(key, None)
        case replies.SetMetaData(values=values):
            session.meta_data.setdefault(token, {}).update(values)
        case replies.UnsetMetaData(keys=keys):
            for key in keys:
                session.meta_data.setdefault(token, {}).pop(key, None)
        case replies.ToggleFunctions(toggles=toggles):
            _toggle(session, toggles)
        case replies.ChangeStep(step=step):
            change_step(session, step, "webhook_action")
        case replies.ChangeContext(context=context):
            change_context(session, context, "webhook_action")
        case replies.UserInput(text=text):
            session.conversation.pending_input.append(text)
        case replies.Transfer(dest=dest):
            await _transfer(session, dest)
        case replies.Swml(document=document, transfer=hard):
            _swml(session, document, hard)
        case replies.ContextSwitch():
            _context_switch(session, action)
        case replies.Hold(seconds=seconds):
            # Taken when the agent has finished its reply, so "please hold" is heard.
            session.tuning.hold_seconds = min(seconds or DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS)
        case replies.PlayBackground(url=url, wait=wait):
            # With wait, the file plays once and the agent's next reply waits for
            # it; without, it loops under the conversation until stopped.
            start_background(session, url, loops=1 if wait else 0)
            session.tuning.background_wait = wait
        case replies.StopBackground():
            stop_background(session)
        case replies.WaitForUser(on=on, seconds=seconds):
            session.tuning.wait_for_user = on
            session.tuning.wait_for_user_until = session.call.now() + seconds \
                if seconds is not None else None
        case replies.Settings():
            _settings(session, action)
        case replies.Endpointing(end_of_speech_ms=end, speech_event_ms=event):
            # The transport's endpointer applies it from now on.
            session.tune_listening(**({"end_of_speech_ms": end} if end is not None
                                      else {"speech_event_ms": event}))
        case replies.AddHints(hints=added, rejected=rejected):
            for why in rejected:
                trace.record("action_ignored", action=action.name, value=why,
                             why="an invalid hint pattern was left out")
            session.tuning.hints.extend(added)
            session.tune_listening(hints=(*session.tuning.listening.hints,
                                          *(h.hint for h in added if h.hint)))
        case replies.ClearHints():
            session.tuning.hints = list(session.verb.hints)
            session.tune_listening(hints=params.listen.hints)
        case replies.FunctionsOnSpeakerTimeout(on=on):
            session.tuning.functions_on_speaker_timeout = on
        case replies.BackToBack(on=on, forever=forever):
            session.tuning.chain_forever = forever
            session.tuning.tool_round_limit = CHAINED_TOOL_ROUNDS if on else None
        case replies.ReplaceInHistory(text=text):
            session.conversation.history_edits[tool_call_id] = text
        case replies.ExtensiveData():
            session.conversation.shorten_results.add(tool_call_id)


def _not_applicable(action: replies.ReplyAction, global_data_allowed: bool,
                    tool_call_id: str) -> str | None:
    """Why a known action does nothing here, or None when it applies."""
    match action:
        case replies.Ignored(why=why):
            return why
        case replies.SetGlobalData() if not global_data_allowed:
            return "params.swaig_set_global_data is false"
        case replies.ReplaceInHistory() | replies.ExtensiveData() if not tool_call_id:
            return "only a tool's reply can edit its history"
    return None


def _toggle(session: AiSession, toggles: tuple[tuple[str, bool], ...]) -> None:
    for name, active in toggles:
        if active:
            session.inactive.discard(name)
            session.activated.add(name)
        else:
            session.inactive.add(name)
            session.activated.discard(name)


async def _transfer(session: AiSession, dest: str) -> None:
    section = session.call.flow.section(dest) if dest else None
    if section is None:
        outcome = recovery.classify(session, ErrorType.TRANSFER_FAILED,
                                    f'no section "{dest}" to transfer to',
                                    then="the conversation goes on")
        await session.executor.say(outcome.phrase)
        return
    session.next.section = section
    session.move(Move.TRANSFER, "transfer")


def _swml(session: AiSession, document: JSONValue, hard: bool) -> None:
    session.call.trace.record("swml_action", transfer=hard, allowed=session.verb.params
                              .swaig_allow_swml)
    if not session.verb.params.swaig_allow_swml:
        return
    session.next.swml.append((document, hard))
    if hard:
        session.move(Move.TRANSFER, "transfer")


def _context_switch(session: AiSession, switch: replies.ContextSwitch) -> None:
    """Replace (full_reset) or add to the system prompt; consolidate folds the
    conversation so far into one note; user_prompt speaks for the caller."""
    if switch.system_prompt is not None:
        session.tuning.prompt_override = (switch.system_prompt, switch.full_reset)
    if switch.consolidate:
        session.conversation.consolidate()
    elif switch.full_reset:
        session.conversation.messages.clear()
    if switch.user_prompt is not None:
        session.conversation.say("user", switch.user_prompt)


def start_background(session: AiSession, url: str, loops: int) -> None:
    playout = session.call.next_id()
    session.executor.channel.play_background(playout, url, loops)
    session.tuning.background = playout
    session.call.trace.record("background_started", playout=playout, url=url, loops=loops)


def stop_background(session: AiSession) -> None:
    if session.tuning.background is not None:
        session.executor.channel.stop_background()
        session.call.trace.record("background_stopped", playout=session.tuning.background)
        session.tuning.background = None
        session.tuning.background_wait = False


def _settings(session: AiSession, settings: replies.Settings) -> None:
    if not session.verb.params.swaig_allow_settings:
        session.call.trace.record("action_refused", action="settings",
                                  why="params.swaig_allow_settings is false")
        return
    session.tuning.llm_settings.update(settings.llm)
    if settings.confidence is not None:
        session.tune_listening(confidence=settings.confidence)
    if settings.barge_confidence is not None:
        session.tune_listening(barge=replace(session.tuning.barge,
                                             confidence=settings.barge_confidence))
        session.call.trace.record("barge_policy", confidence=settings.barge_confidence)
