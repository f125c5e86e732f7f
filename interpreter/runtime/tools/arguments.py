"""Parse and check the arguments the model passed to a SWAIG function.

The model sends its arguments as a JSON string. They are checked against the
function's `parameters` (a JSON Schema, Draft 2020-12) before anything runs;
a bad call becomes a `ToolFault(TOOL_INVALID_CALL)` whose message is sent
back to the model, so it names the argument and says what to fix, in plain
words rather than Python reprs.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.ir import thaw
from interpreter.jsontypes import JSONValue, kind_of
from interpreter.patterns import FlowPattern, PatternError, PatternTimeout
from interpreter.runtime.tools.base import ToolFault
from interpreter.runtime.tools.limits import outside_json
from interpreter.safejson import JSONInputError

# One validator per Function object. Functions are frozen but not hashable
# (they hold mappings), so the cache is keyed by id and keeps the function
# alive, which stops the id from being reused while the entry exists. The
# bound keeps a long-running server that compiles many flows from growing.
_CACHE_SIZE = 1024
_validators: OrderedDict[int, tuple[ir.Function, Draft202012Validator]] = OrderedDict()

_MAX_REPORTED = 3  # more than a few problems at once only confuses the model
_MAX_VALUE_CHARS = 60


def parse_arguments(function: ir.Function, raw: str) -> dict[str, JSONValue]:
    """The model's arguments as a dict, checked against `function.parameters`."""
    arguments = _decode(function.name, raw)
    try:
        errors = sorted(_validator(function).iter_errors(arguments), key=_error_order)
    except Unresolvable as error:
        raise ToolFault(ErrorType.TOOL_ERROR,
                        f"the parameters schema of {function.name} has a $ref that cannot be "
                        f"resolved: {error}") from None
    if errors:
        problems = "; ".join(_describe(error) for error in errors[:_MAX_REPORTED])
        more = len(errors) - _MAX_REPORTED
        if more > 0:
            problems += f" (and {more} more)"
        raise ToolFault(ErrorType.TOOL_INVALID_CALL,
                        f"invalid arguments for {function.name}: {problems}. "
                        f"Call {function.name} again with corrected arguments.")
    return arguments


def _decode(name: str, raw: str) -> dict[str, JSONValue]:
    if not raw.strip():
        return {}  # a function without parameters is often called with ""
    try:
        value = outside_json(raw)
    except ValueError as error:
        where = f" ({error})" if isinstance(error, JSONInputError) else ""
        raise ToolFault(ErrorType.TOOL_INVALID_CALL,
                        f"the arguments for {name} are not valid JSON{where}. "
                        "Send them as one JSON object.") from None
    if value is None:
        return {}  # some models write `null` for "no arguments"
    if not isinstance(value, dict):
        raise ToolFault(ErrorType.TOOL_INVALID_CALL,
                        f"the arguments for {name} must be a JSON object, not "
                        f"{kind_of(value)}. Send them as one JSON object.")
    return value


@functools.lru_cache(maxsize=256)
def _flow_pattern(source: str) -> FlowPattern | None:
    try:
        return FlowPattern(source)
    except PatternError:
        return None


def _matches(source: str, text: str) -> bool | None:
    """Whether `text` matches the schema's `pattern` on the bounded engine;
    None when the match was stopped (or the pattern is invalid)."""
    pattern = _flow_pattern(source)
    if pattern is None:
        return None
    try:
        return pattern.search(text) is not None
    except PatternTimeout:
        return None


def _pattern(validator: Any, source: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not isinstance(instance, str):
        return
    matched = _matches(source, instance)
    if matched is None:
        yield ValidationError(f"{instance!r} could not be checked against {source!r} in time")
    elif not matched:
        yield ValidationError(f"{instance!r} does not match {source!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any,
                        schema: Any) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for source, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(source, key):
                yield from validator.descend(value, subschema, path=key, schema_path=source)


# The model's arguments are checked against the flow's own patterns: on the
# bounded engine, as every flow pattern is (interpreter/patterns.py), never on
# `re`, which a catastrophic pattern would hold on the event loop.
_BoundedValidator: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties})


def _validator(function: ir.Function) -> Draft202012Validator:
    cached = _validators.get(id(function))
    if cached is not None and cached[0] is function:
        _validators.move_to_end(id(function))
        return cached[1]
    schema = _nullable(thaw(function.parameters))
    try:
        if not isinstance(schema, dict):
            raise SchemaError("it must be an object")
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        # The flow author's mistake, not the model's: a tool error, not an invalid call.
        raise ToolFault(ErrorType.TOOL_ERROR,
                        f"the parameters schema of {function.name} is invalid: "
                        f"{error.message}") from None
    # An empty registry: jsonschema would otherwise fetch a remote `$ref` with
    # blocking urllib, from the event loop. Local refs (#/$defs/...) still work.
    validator = _BoundedValidator(schema, registry=Registry())
    _validators[id(function)] = (function, validator)
    if len(_validators) > _CACHE_SIZE:
        _validators.popitem(last=False)
    return validator


def _nullable(schema: JSONValue) -> JSONValue:
    """Honour the OpenAPI-style `nullable: true` that SWAIG allows on every
    property (SignalWire's SWAIG function `parameters`): JSON Schema ignores
    the keyword, so a property
    `{"type": "string", "nullable": true}` becomes `{"type": ["string", "null"]}`."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _nullable(value) for key, value in schema.items()}
    kind = out.get("type")
    if out.get("nullable") is True and isinstance(kind, str | list):
        kinds: list[JSONValue] = [kind] if isinstance(kind, str) else list(kind)
        out["type"] = [*kinds, "null"] if "null" not in kinds else kinds
    return out


# ------------------------------------------------------------------ messages

def _error_order(error: ValidationError) -> tuple[int, str]:
    # Shallow problems first (a missing argument before a bad nested field).
    return len(error.absolute_path), _path(error.absolute_path)


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: ValidationError) -> str:
    path = _path(error.absolute_path)
    name = f'argument "{path}"' if path else "the arguments"
    rule, expected, got = error.validator, error.validator_value, error.instance
    match rule:
        case "required":
            present = got if isinstance(got, dict) else {}
            missing = [str(key) for key in _items(expected) if key not in present]
            keys = ", ".join(f'"{_path([*error.absolute_path, key])}"' for key in missing)
            return f"missing required argument{'s' if len(missing) > 1 else ''} {keys}"
        case "additionalProperties" | "unevaluatedProperties":
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            extra = [key for key in (got if isinstance(got, dict) else {}) if key not in known]
            keys = ", ".join(f'"{_path([*error.absolute_path, key])}"' for key in extra)
            return f"unexpected argument {keys}" if extra else f"{name} has unexpected keys"
        case "type":
            kinds = expected if isinstance(expected, list) else [expected]
            wanted = " or ".join(_article(str(kind)) for kind in kinds)
            return f"{name} must be {wanted}, not {kind_of(got)} ({_show(got)})"
        case "enum":
            return f"{name} must be one of {_choices(expected)}, not {_show(got)}"
        case "const":
            return f"{name} must be {_show(expected)}, not {_show(got)}"
        case "pattern":
            return f"{name} must match the pattern {expected}, not {_show(got)}"
        case "minLength" | "maxLength":
            bound = "at least" if rule == "minLength" else "at most"
            return f"{name} must be {bound} {expected} characters long, not {_show(got)}"
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            return f"{name} must be {_BOUNDS[rule]} {_show(expected)}, not {_show(got)}"
        case "multipleOf":
            return f"{name} must be a multiple of {_show(expected)}, not {_show(got)}"
        case "minItems" | "maxItems":
            bound = "at least" if rule == "minItems" else "at most"
            return f"{name} must have {bound} {expected} items"
        case "uniqueItems":
            return f"{name} must not repeat items"
        case "oneOf" | "anyOf":
            return f"{name} ({_show(got)}) does not match any of the allowed forms"
    return f"{name} is invalid ({rule} {_show(expected)})"


_BOUNDS = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than",
           "exclusiveMaximum": "less than"}


def _article(kind: str) -> str:
    return {"integer": "an integer", "array": "an array", "object": "an object",
            "null": "null"}.get(kind, f"a {kind}")


def _items(values: object) -> list[object]:
    return list(values) if isinstance(values, Sequence) and not isinstance(values, str) \
        else [values]


def _choices(values: object) -> str:
    return ", ".join(_show(item) for item in _items(values))


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS - 1] + "…"
