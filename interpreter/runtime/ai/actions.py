"""SWAIG reply actions applied to the live call (reference §3.2), and moves
between steps and contexts.

Actions run in order. A reply with `post_process` holds its actions until
the agent has finished speaking its next reply. Moves are checked against the
document: the model may only go where the current step allows; an action may
go to any step of the current context or any context. An illegal move is a
state_error the model hears about, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from interpreter.document.coerce import hint
from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import FALLBACK_VOICE
from interpreter.providers.llm.base import ChatMessage
from interpreter.runtime import faults
from interpreter.runtime.ai import fillers, gather, recovery
from interpreter.runtime.ai.session import voice_of
from interpreter.runtime.ai.templates import render

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

# The `settings` action's hyphenated keys, as the model request names them.
_LLM_SETTINGS = {"temperature": "temperature", "top-p": "top_p", "max-tokens": "max_tokens",
                 "frequency-penalty": "frequency_penalty",
                 "presence-penalty": "presence_penalty"}
MAX_HOLD_SECONDS = 900.0
DEFAULT_HOLD_SECONDS = 300.0
# Hold music when the flow sets no params.hold_music: the media runtime's own
# tone, so a caller on hold never hears dead air.
DEFAULT_HOLD_MUSIC = "builtin:hold"
# Actions matched above only with a usable value.
_GUARDED = {"set_global_data", "set_meta_data", "toggle_functions", "stop_playback_bg",
            "settings", "end_of_speech_timeout", "speech_event_timeout", "add_dynamic_hints",
            "replace_in_history", "extensive_data"}
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
        return _illegal(session, f'step "{name}" is not reachable from "{step.name}"; valid: '
                        + ", ".join(s.name for s in allowed))
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
        return _illegal(session, f'context "{name}" is not reachable; valid: '
                        + ", ".join(c.name for c in contexts))
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
        session.prompt_override = (render(leaving_step.system_prompt, session),
                                   leaving_step.full_reset)
    reset = leaving_step or target.reset
    if reset is not None and reset.consolidate:
        consolidate(session)
    elif target.isolated or (reset is not None and reset.full_reset):
        session.messages.clear()
    if reset is not None and reset.user_prompt is not None:
        session.messages.append(ChatMessage("user", render(reset.user_prompt, session)))
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
    old = session.language.name if session.language is not None else None
    session.language = target
    executor = session.executor
    if target.voice and executor.voice != FALLBACK_VOICE:
        executor.voice = voice_of(target)
    session.tune_listening(language=target.code)
    session.call.trace.record("language_change", old=old, new=target.name, code=target.code,
                              voice=str(executor.voice or ""))
    return f"Now speaking {target.name}."


def _illegal(session: AiSession, message: str) -> str:
    """An illegal move is a state_error the model is told about, so it can correct it."""
    faults.record(session.call, ErrorType.STATE_ERROR, message, fatal=False,
                  next="told the model")
    return f"Error: {message}."


async def apply(session: AiSession, actions: tuple[Mapping[str, JSONValue], ...],
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


async def _apply_one(session: AiSession, action: Mapping[str, JSONValue], token: str,
                     tool_call_id: str) -> None:
    trace = session.call.trace
    for name, value in action.items():
        if name == "transfer" and "SWML" in action:
            continue
        trace.record("action", action=name, value=value)
        match name:
            case "say":
                await session.executor.say(str(value))
            case "stop":
                if value not in (False, "false"):
                    session.ended = "stop"
            case "hangup":
                if value not in (False, "false"):
                    session.ended = "hangup"
                    session.hangup_after = True
            case "set_global_data" if isinstance(value, dict) and \
                    session.verb.params.swaig_set_global_data:
                session.global_data.update(value)
            case "unset_global_data":
                _unset(session.global_data, value)
            case "set_meta_data" if isinstance(value, dict):
                session.meta_data.setdefault(token, {}).update(value)
            case "unset_meta_data":
                _unset(session.meta_data.setdefault(token, {}), value)
            case "toggle_functions" if isinstance(value, list):
                _toggle(session, value)
            case "change_step":
                change_step(session, str(value), "webhook_action")
            case "change_context":
                change_context(session, str(value), "webhook_action")
            case "user_input":
                session.pending_input.append(str(value))
            case "transfer":
                await _transfer(session, value)
            case "SWML":
                _swml(session, value, action.get("transfer"))
            case "context_switch":
                _context_switch(session, value)
            case "hold":
                _hold(session, value)
            case "playback_bg":
                _playback_bg(session, value)
            case "stop_playback_bg" if value not in (False, "false"):
                stop_background(session)
            case "wait_for_user":
                _wait_for_user(session, value)
            case "settings" if isinstance(value, dict):
                _settings(session, value)
            case "end_of_speech_timeout" | "speech_event_timeout" \
                    if isinstance(value, int | float) and not isinstance(value, bool):
                # Endpointing: the transport's endpointer applies it from now on.
                key = "end_of_speech_ms" if name == "end_of_speech_timeout" \
                    else "speech_event_ms"
                session.tune_listening(**{key: int(value)})
            case "add_dynamic_hints" if isinstance(value, list):
                session.hints.extend(hint(item) for item in value)
                session.tune_listening(hints=(*session.listening.hints,
                                              *(h.hint for h in map(hint, value) if h.hint)))
            case "clear_dynamic_hints":
                session.hints = list(session.verb.hints)
                session.tune_listening(hints=session.verb.params.listen.hints)
            case "functions_on_speaker_timeout":
                session.functions_on_speaker_timeout = value not in (False, "false")
            case "back_to_back_functions":
                session.chain_forever = value == "forever"
                session.tool_round_limit = CHAINED_TOOL_ROUNDS \
                    if value not in (False, "false") else None
            case "replace_in_history" if tool_call_id:
                session.history_edits[tool_call_id] = None if value in (True, "true") \
                    else str(value)
            case "extensive_data" if tool_call_id and value not in (False, "false"):
                session.shorten_results.add(tool_call_id)
            case _ if name in _GUARDED:
                # A known action whose value it cannot use (or, for
                # stop_playback_bg/extensive_data, false): nothing to do.
                trace.record("action_ignored", action=name, value=value,
                             why="value not applicable")
            case _:
                trace.record("action_unknown", action=name)


def _unset(target: dict[str, JSONValue], value: JSONValue) -> None:
    keys = [value] if isinstance(value, str) else value if isinstance(value, list) \
        else list(value) if isinstance(value, dict) else []
    for key in keys:
        target.pop(str(key), None)


def _toggle(session: AiSession, toggles: list[JSONValue]) -> None:
    for toggle in toggles:
        if not isinstance(toggle, dict):
            continue
        names = toggle.get("function")
        active = toggle.get("active", True) not in (False, "false")
        listed = [names] if isinstance(names, str) else names if isinstance(names, list) else []
        for name in listed:
            if active:
                session.inactive.discard(str(name))
                session.activated.add(str(name))
            else:
                session.inactive.add(str(name))
                session.activated.discard(str(name))


async def _transfer(session: AiSession, value: JSONValue) -> None:
    dest = value.get("dest") if isinstance(value, dict) else value
    section = session.call.flow.section(str(dest)) if dest else None
    if section is None:
        outcome = recovery.classify(session, ErrorType.TRANSFER_FAILED,
                                    f'no section "{dest}" to transfer to',
                                    then="the conversation goes on")
        await session.executor.say(outcome.phrase)
        return
    session.transfer = section
    session.ended = "transfer"


def _swml(session: AiSession, document: JSONValue, transfer: JSONValue) -> None:
    hard = transfer in (True, "true")
    session.call.trace.record("swml_action", transfer=hard, allowed=session.verb.params
                              .swaig_allow_swml)
    if not session.verb.params.swaig_allow_swml:
        return
    session.swml_actions.append((document, hard))
    if hard:
        session.ended = "transfer"


def _context_switch(session: AiSession, value: JSONValue) -> None:
    """Replace (full_reset) or add to the system prompt; consolidate folds the
    conversation so far into one note; user_prompt speaks for the caller."""
    spec = value if isinstance(value, dict) else {"system_prompt": value}
    system = spec.get("system_prompt")
    if isinstance(system, str) and system:
        session.prompt_override = (system, spec.get("full_reset") in (True, "true"))
    if spec.get("consolidate") in (True, "true"):
        consolidate(session)
    elif spec.get("full_reset") in (True, "true"):
        session.messages.clear()
    user = spec.get("user_prompt")
    if isinstance(user, str) and user:
        session.messages.append(ChatMessage("user", user))


def consolidate(session: AiSession) -> None:
    """The conversation so far as one system note (what a transfer carries too)."""
    turns = transcript(session)
    session.messages.clear()
    if turns:
        session.messages.append(ChatMessage("system", f"The conversation so far: {turns}"))


def transcript(session: AiSession, last: int | None = None) -> str:
    said = [f"{m.role}: {m.content}" for m in session.messages
            if m.role in ("user", "assistant") and m.content]
    return " | ".join(said[-last:] if last else said)


def _hold(session: AiSession, value: JSONValue) -> None:
    seconds: JSONValue = value.get("timeout", DEFAULT_HOLD_SECONDS) \
        if isinstance(value, dict) else value
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        seconds = DEFAULT_HOLD_SECONDS
    # Taken when the agent has finished its reply, so "please hold" is heard.
    session.hold_seconds = min(float(seconds), MAX_HOLD_SECONDS)


def _playback_bg(session: AiSession, value: JSONValue) -> None:
    spec = value if isinstance(value, dict) else {"file": value}
    url = spec.get("file")
    if not isinstance(url, str) or not url:
        session.call.trace.record("action_invalid", action="playback_bg",
                                  why="needs a file URL")
        return
    wait = spec.get("wait") in (True, "true")
    # With wait, the file plays once and the agent's next reply waits for it;
    # without, it loops under the conversation until stopped.
    start_background(session, url, loops=1 if wait else 0)
    session.background_wait = wait


def start_background(session: AiSession, url: str, loops: int) -> None:
    playout = session.call.next_id()
    session.executor.channel.play_background(playout, url, loops)
    session.background = playout
    session.call.trace.record("background_started", playout=playout, url=url, loops=loops)


def stop_background(session: AiSession) -> None:
    if session.background is not None:
        session.executor.channel.stop_background()
        session.call.trace.record("background_stopped", playout=session.background)
        session.background = None
        session.background_wait = False


def _wait_for_user(session: AiSession, value: JSONValue) -> None:
    """bool, seconds, or "answer_first" (the same as true once the call is up)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        session.wait_for_user_until = session.call.now() + float(value)
        session.wait_for_user = False
    else:
        session.wait_for_user = value not in (False, "false")
        session.wait_for_user_until = None


def _settings(session: AiSession, values: dict[str, JSONValue]) -> None:
    if not session.verb.params.swaig_allow_settings:
        session.call.trace.record("action_refused", action="settings",
                                  why="params.swaig_allow_settings is false")
        return
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if key in _LLM_SETTINGS:
            session.llm_settings[_LLM_SETTINGS[key]] = float(value)
        elif key == "confidence":
            session.tune_listening(confidence=float(value))
        elif key == "barge-confidence":
            session.barge = replace(session.barge, confidence=float(value))
            session.call.trace.record("barge_policy", confidence=float(value))
