"""Coercions from document values to IR values, shared by the compilers.

Numeric and boolean parameters may be `${...}` strings in SWML; a value that
cannot be read as the type keeps the default here (the raw value stays in the
IR where the runtime can render it).

The SDK section at the end turns the value forms the SignalWire Agents SDK
emits but SWML does not document into the forms the IR holds; lint warns about
each one (CK605, CK606; `rules/sdk.py` finds them with the same functions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import MappingProxyType
from urllib.parse import unquote, urlsplit, urlunsplit

from interpreter import ir
from interpreter.diagnostics import JSONPath
from interpreter.expressions.functions import number_to_string
from interpreter.ir import freeze as freeze  # re-exported for the compilers
from interpreter.jsontypes import JSONValue
from interpreter.patterns import FlowPattern

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def split_credentials(url: str) -> ir.Webhook:
    """A URL's `user:pass@` moves out of the URL into Basic-auth credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ir.Webhook(url)
    if parts.username is None and parts.password is None:
        return ir.Webhook(url)
    # Everything after the userinfo is kept as written (lint reports bad ports).
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return ir.Webhook(clean, unquote(parts.username or ""), unquote(parts.password or ""))


def webhook(url: str, user: JSONValue = None, password: JSONValue = None) -> ir.Webhook:
    hook = split_credentials(url)
    if isinstance(user, str) or isinstance(password, str):
        return ir.Webhook(hook.url, str(user or hook.user or ""), str(password or hook.password
                                                                     or ""))
    return hook


def duration_seconds(value: JSONValue) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) and value else None
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def number(value: JSONValue, default: float) -> float:
    # Numeric params may be "${...}" strings (SWMLVar); those keep the default here
    # and stay visible in `raw` for the runtime.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def flag(value: JSONValue, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def strings(value: JSONValue) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def filler_map(value: JSONValue) -> ir.FillerMap:
    if isinstance(value, list):  # a bare list is the default for every language
        return MappingProxyType({"default": strings(value)})
    if isinstance(value, dict):
        return MappingProxyType({code: strings(items) for code, items in value.items()})
    return MappingProxyType({})


def compile_pattern(pattern: str, ignore_case: bool = False) -> FlowPattern:
    """A data_map/hint/barge pattern: PCRE-style text, or the JavaScript literal
    form `/text/flags` that SDK skills emit, compiled for the time-bounded
    engine (interpreter/patterns.py). Raises PatternError when invalid."""
    return FlowPattern(pattern, ignore_case)


def hint(item: JSONValue) -> ir.Hint:
    """A `hints` entry: a plain word, or a pattern with its replacement."""
    if isinstance(item, dict):
        pattern = item.get("pattern")
        compiled = compile_pattern(pattern, flag(item.get("ignore_case"), False)) \
            if isinstance(pattern, str) else None
        return ir.Hint(str(item.get("hint", "")), compiled,
                       _replacement(str(item["replace"])) if "replace" in item else None)
    return ir.Hint(str(item))


_JS_REPLACEMENT = re.compile(r"\$(?:(\d+)|<(\w+)>|(&)|(\$))")


def _replacement(template: str) -> str:
    """A JS/PCRE-style replacement (`$1`, `$<name>`, `$&` the whole match, `$$`
    a dollar) as an engine `sub` template; other text is taken literally."""
    def group(found: re.Match[str]) -> str:
        number, name, _, dollar = found.groups()
        return "$" if dollar else f"\\g<{number or name or 0}>"

    return _JS_REPLACEMENT.sub(group, template.replace("\\", "\\\\"))


# ------------------------------------------------------------------ SDK forms

_SWML_VAR = re.compile(r"^[$%]\{.*\}$")  # the schema's SWMLVar


def template_text(value: JSONValue) -> str:
    """A JSON value where a template belongs, as template text.

    The SDK passes `DataMap.foreach({... "append": True})` through unchecked.
    The value is read as the text a `${...}` holding it expands to (the rule
    SWAIG templates apply to non-string values): null is "", true is "true",
    101 is "101", lists and maps are compact JSON.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_to_string(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def item_limit(value: JSONValue) -> int | None:
    """foreach `max` as a count: an integer as given; a number or a numeric
    string (the SDK passes any value through) truncated to an integer; None for
    a `${...}` variable, which callkernel does not apply (every item is used)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and not _SWML_VAR.match(value):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def is_swml_var(value: JSONValue) -> bool:
    return isinstance(value, str) and _SWML_VAR.match(value) is not None


def swaig_action(value: JSONValue) -> JSONValue:
    """A SWAIG action with `transfer` written inside its SWML document (the SDK's
    `execute_swml(..., transfer=True)`) gets it beside `SWML`, where SWML reads it;
    a `transfer` already beside it wins."""
    if not isinstance(value, dict):
        return value
    swml = value.get("SWML")
    if not isinstance(swml, dict) or "transfer" not in swml:
        return value
    inner = {key: item for key, item in swml.items() if key != "transfer"}
    return {**value, "SWML": inner, "transfer": value.get("transfer", swml["transfer"])}


def parameter_schema(value: JSONValue) -> JSONValue:
    """Function parameters with the SDK's per-property `required: true/false`
    (JSON Schema draft 3, still written by SDK skills) moved to the object's
    `required` list, where JSON Schema 2020-12 and LLM APIs read it."""
    if isinstance(value, list):
        return [parameter_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: parameter_schema(item) for key, item in value.items()}
    properties = out.get("properties")
    if isinstance(properties, dict):
        listed = out.get("required")
        required: list[JSONValue] = list(listed) if isinstance(listed, list) else []
        fixed: dict[str, JSONValue] = {}
        for name, schema in properties.items():
            flag_value = schema.get("required") if isinstance(schema, dict) else None
            if isinstance(schema, dict) and isinstance(flag_value, bool):
                if flag_value and name not in required:
                    required.append(name)
                schema = {key: item for key, item in schema.items() if key != "required"}
            fixed[name] = schema
        out["properties"] = fixed
        if required:
            out["required"] = required
    return out


def boolean_required(value: JSONValue, path: JSONPath = ()) -> Iterator[tuple[JSONPath, bool]]:
    """Where `parameter_schema` moves a per-property boolean `required`, and its value."""
    if isinstance(value, list):
        for position, item in enumerate(value):
            yield from boolean_required(item, (*path, position))
        return
    if not isinstance(value, dict):
        return
    properties = value.get("properties")
    for key, item in value.items():
        if key == "properties" and isinstance(properties, dict):
            for name, schema in properties.items():
                flag_value = schema.get("required") if isinstance(schema, dict) else None
                if isinstance(flag_value, bool):
                    yield (*path, "properties", name, "required"), flag_value
        yield from boolean_required(item, (*path, key))
