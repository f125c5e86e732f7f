"""SWAIG reply actions (SignalWire's SWAIG function results) as typed values, parsed once.

A webhook, a data_map output, a hook or a test's mock gives actions as JSON
objects; `parse_actions` turns them into the dataclasses below at the tool
boundary, coercing the SDK's string booleans ("true"/"false") and numbers
once. The ai loop applies typed values only. A known action whose value is
unusable becomes `Ignored` (traced with why), anything else `Unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from interpreter import ir
from interpreter.document.coerce import hint
from interpreter.jsontypes import JSONValue
from interpreter.patterns import PatternError


@dataclass(frozen=True, slots=True)
class Action:
    # The action as written, for the trace.
    name: str = field(default="", kw_only=True)
    value: JSONValue = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Say(Action):
    text: str


@dataclass(frozen=True, slots=True)
class Stop(Action):
    pass


@dataclass(frozen=True, slots=True)
class HangUp(Action):
    pass


@dataclass(frozen=True, slots=True)
class SetGlobalData(Action):
    values: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class UnsetGlobalData(Action):
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetMetaData(Action):
    values: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class UnsetMetaData(Action):
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToggleFunctions(Action):
    toggles: tuple[tuple[str, bool], ...]  # (function, active)


@dataclass(frozen=True, slots=True)
class ChangeStep(Action):
    step: str


@dataclass(frozen=True, slots=True)
class ChangeContext(Action):
    context: str


@dataclass(frozen=True, slots=True)
class UserInput(Action):
    text: str


@dataclass(frozen=True, slots=True)
class Transfer(Action):
    dest: str  # a section of the running document


@dataclass(frozen=True, slots=True)
class Swml(Action):
    document: JSONValue
    transfer: bool  # replace the script (true) or run inline and come back


@dataclass(frozen=True, slots=True)
class ContextSwitch(Action):
    system_prompt: str | None
    full_reset: bool
    consolidate: bool
    user_prompt: str | None


@dataclass(frozen=True, slots=True)
class Hold(Action):
    seconds: float | None  # None: the default hold


@dataclass(frozen=True, slots=True)
class PlayBackground(Action):
    url: str
    wait: bool


@dataclass(frozen=True, slots=True)
class StopBackground(Action):
    pass


@dataclass(frozen=True, slots=True)
class WaitForUser(Action):
    on: bool
    seconds: float | None = None  # wait at most this long for the caller


@dataclass(frozen=True, slots=True)
class Settings(Action):
    # Model settings by the request's names (the action's "top-p" is top_p).
    llm: Mapping[str, float]
    confidence: float | None = None
    barge_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Endpointing(Action):
    end_of_speech_ms: int | None = None
    speech_event_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AddHints(Action):
    hints: tuple[ir.Hint, ...]  # compiled as they arrive
    rejected: tuple[str, ...] = ()  # why each unusable hint was left out


@dataclass(frozen=True, slots=True)
class ClearHints(Action):
    pass


@dataclass(frozen=True, slots=True)
class FunctionsOnSpeakerTimeout(Action):
    on: bool


@dataclass(frozen=True, slots=True)
class BackToBack(Action):
    on: bool
    forever: bool


@dataclass(frozen=True, slots=True)
class ReplaceInHistory(Action):
    text: str | None  # None: drop the call and its result


@dataclass(frozen=True, slots=True)
class ExtensiveData(Action):
    pass


@dataclass(frozen=True, slots=True)
class Ignored(Action):
    why: str


@dataclass(frozen=True, slots=True)
class Unknown(Action):
    pass


ReplyAction: TypeAlias = (
    "Say | Stop | HangUp | SetGlobalData | UnsetGlobalData | SetMetaData | UnsetMetaData"
    " | ToggleFunctions | ChangeStep | ChangeContext | UserInput | Transfer | Swml"
    " | ContextSwitch | Hold | PlayBackground | StopBackground | WaitForUser | Settings"
    " | Endpointing | AddHints | ClearHints | FunctionsOnSpeakerTimeout | BackToBack"
    " | ReplaceInHistory | ExtensiveData | Ignored | Unknown"
)

_LLM_SETTINGS = {"temperature": "temperature", "top-p": "top_p", "max-tokens": "max_tokens",
                 "frequency-penalty": "frequency_penalty",
                 "presence-penalty": "presence_penalty"}


def truthy(value: JSONValue) -> bool:
    """A flag as the SDK writes it: true/false, "true"/"false" or 1/0; any
    other value present counts as set."""
    if isinstance(value, str):
        return value.strip().lower() != "false"
    if isinstance(value, bool | int | float):
        return bool(value)
    return value is not None


def _number(value: JSONValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _keys(value: JSONValue) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | dict):
        return tuple(str(key) for key in value)
    return ()


def parse_actions(actions: tuple[Mapping[str, JSONValue], ...]) -> tuple[ReplyAction, ...]:
    """Every action object, each key one action, in order."""
    parsed: list[ReplyAction] = []
    for action in actions:
        for name, value in action.items():
            if name == "transfer" and "SWML" in action:
                continue  # the SWML action's flag, not a transfer of its own
            parsed.append(_parse(name, value, action))
    return tuple(parsed)


def _parse(name: str, value: JSONValue, action: Mapping[str, JSONValue]) -> ReplyAction:
    how: dict[str, Any] = {"name": name, "value": value}
    match name:
        case "say":
            return Say(str(value), **how)
        case "stop":
            return Stop(**how) if truthy(value) else Ignored("false", **how)
        case "hangup":
            return HangUp(**how) if truthy(value) else Ignored("false", **how)
        case "set_global_data" | "set_meta_data":
            if not isinstance(value, dict):
                return Ignored("needs an object", **how)
            kind = SetGlobalData if name == "set_global_data" else SetMetaData
            return kind(dict(value), **how)
        case "unset_global_data":
            return UnsetGlobalData(_keys(value), **how)
        case "unset_meta_data":
            return UnsetMetaData(_keys(value), **how)
        case "toggle_functions":
            return _toggles(value, how)
        case "change_step":
            return ChangeStep(str(value), **how)
        case "change_context":
            return ChangeContext(str(value), **how)
        case "user_input":
            return UserInput(str(value), **how)
        case "transfer":
            dest = value.get("dest") if isinstance(value, dict) else value
            return Transfer(str(dest) if dest else "", **how)
        case "SWML":
            return Swml(value, truthy(action.get("transfer", False)), **how)
        case "context_switch":
            spec = value if isinstance(value, dict) else {"system_prompt": value}
            system, user = spec.get("system_prompt"), spec.get("user_prompt")
            return ContextSwitch(system if isinstance(system, str) and system else None,
                                 truthy(spec.get("full_reset", False)),
                                 truthy(spec.get("consolidate", False)),
                                 user if isinstance(user, str) and user else None, **how)
        case "hold":
            seconds = _number(value.get("timeout") if isinstance(value, dict) else value)
            return Hold(seconds if seconds is not None and seconds > 0 else None, **how)
        case "playback_bg":
            spec = value if isinstance(value, dict) else {"file": value}
            url = spec.get("file")
            if not isinstance(url, str) or not url:
                return Ignored("needs a file URL", **how)
            return PlayBackground(url, truthy(spec.get("wait", False)), **how)
        case "stop_playback_bg":
            return StopBackground(**how) if truthy(value) else Ignored("false", **how)
        case "wait_for_user":
            seconds = _number(value) if not isinstance(value, str) else None
            if seconds is not None and seconds > 0:
                return WaitForUser(False, seconds, **how)
            return WaitForUser(truthy(value), **how)
        case "settings":
            return _settings(value, how)
        case "end_of_speech_timeout" | "speech_event_timeout":
            ms = _number(value)
            if ms is None:
                return Ignored("needs milliseconds", **how)
            return Endpointing(int(ms), None, **how) if name == "end_of_speech_timeout" \
                else Endpointing(None, int(ms), **how)
        case "add_dynamic_hints":
            if not isinstance(value, list):
                return Ignored("needs a list of hints", **how)
            return _hints(value, how)
        case "clear_dynamic_hints":
            return ClearHints(**how)
        case "functions_on_speaker_timeout":
            return FunctionsOnSpeakerTimeout(truthy(value), **how)
        case "back_to_back_functions":
            return BackToBack(truthy(value), value == "forever", **how)
        case "replace_in_history":
            return ReplaceInHistory(None if value is True or value == "true" else str(value),
                                    **how)
        case "extensive_data":
            return ExtensiveData(**how) if truthy(value) else Ignored("false", **how)
    return Unknown(**how)


def _hints(items: list[JSONValue], how: dict[str, Any]) -> ReplyAction:
    """Compiled now, so an invalid pattern from a webhook is left out (and
    said why) instead of failing where the hints are used."""
    compiled: list[ir.Hint] = []
    rejected: list[str] = []
    for item in items:
        try:
            compiled.append(hint(item))
        except PatternError as error:
            rejected.append(str(error))
    return AddHints(tuple(compiled), tuple(rejected), **how)


def _toggles(value: JSONValue, how: dict[str, Any]) -> ReplyAction:
    if not isinstance(value, list):
        return Ignored("needs a list of {function, active}", **how)
    toggles: list[tuple[str, bool]] = []
    for toggle in value:
        if not isinstance(toggle, dict):
            continue
        names = toggle.get("function")
        active = truthy(toggle.get("active", True))
        listed = [names] if isinstance(names, str) else names if isinstance(names, list) else []
        toggles.extend((str(name), active) for name in listed)
    return ToggleFunctions(tuple(toggles), **how)


def _settings(value: JSONValue, how: dict[str, Any]) -> ReplyAction:
    if not isinstance(value, dict):
        return Ignored("needs an object", **how)
    llm: dict[str, float] = {}
    for key, item in value.items():
        number = _number(item)
        if number is not None and key in _LLM_SETTINGS:
            llm[_LLM_SETTINGS[key]] = number
    confidence, barge = (_number(value.get(key)) for key in ("confidence", "barge-confidence"))
    return Settings(llm, confidence, barge, **how)
