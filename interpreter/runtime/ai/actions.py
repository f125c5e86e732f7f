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
from typing import TYPE_CHECKING

from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ChatMessage

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

# Actions that tune a platform knob this runtime has no equivalent for yet;
# they are traced so nothing is silently dropped.
_TRACED_ONLY = {"settings", "end_of_speech_timeout", "speech_event_timeout",
                "add_dynamic_hints", "clear_dynamic_hints", "functions_on_speaker_timeout",
                "extensive_data", "replace_in_history", "playback_bg", "stop_playback_bg",
                "hold", "wait_for_user", "context_switch", "back_to_back_functions"}


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
    session.context = target
    session.step = target.first_step
    session.fresh_step = True
    reset = target.reset
    if target.isolated or (reset is not None and reset.full_reset):
        session.messages.clear()
    if reset is not None and reset.user_prompt is not None:
        session.messages.append(ChatMessage("user", reset.user_prompt.source))
    return f"Switched to context {target.name}, step {target.first_step.name}."


def _illegal(session: AiSession, message: str) -> str:
    """An illegal move is a state_error the model is told about, so it can correct it."""
    session.call.trace.record("error", type=ErrorType.STATE_ERROR.value, fatal=False,
                              message=message, next="told the model")
    return f"Error: {message}."


async def apply(session: AiSession, actions: tuple[Mapping[str, JSONValue], ...],
                post_process: bool, token: str = "") -> None:
    """Apply in order; `token` is the calling function's meta_data scope."""
    if post_process:
        session.post_actions.extend((action, token) for action in actions)
        return
    for action in actions:
        await _apply_one(session, action, token)


async def flush_post_process(session: AiSession) -> None:
    held, session.post_actions = session.post_actions, []
    for action, token in held:
        await _apply_one(session, action, token)


async def _apply_one(session: AiSession, action: Mapping[str, JSONValue], token: str) -> None:
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
                _transfer(session, value)
            case "SWML":
                _swml(session, value, action.get("transfer"))
            case _ if name in _TRACED_ONLY:
                trace.record("action_not_applied", action=name,
                             why="no equivalent in this runtime yet")
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


def _transfer(session: AiSession, value: JSONValue) -> None:
    dest = value.get("dest") if isinstance(value, dict) else value
    section = session.call.flow.section(str(dest)) if dest else None
    if section is None:
        session.call.trace.record("error", type=ErrorType.TRANSFER_FAILED.value, fatal=False,
                                  message=f'no section "{dest}" to transfer to')
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
