"""Validate a loaded document against `schemas/flow.schema.json`.

jsonschema finds the errors; this module turns each into a Diagnostic at the
line:col of the offending node with a message written for flow authors:
"unknown method "anwser" (did you mean "answer"?)" rather than jsonschema's
repr of the instance. For `anyOf` alternatives the most relevant branch is
reported (see `_most_relevant`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from interpreter.diagnostics import Diagnostic, JSONPath, Severity
from interpreter.document.loader import SourceDocument
from interpreter.jsontypes import kind_of

# Where the schema lives: inside an installed wheel it is package data; in a
# source checkout (and an editable install) it is the top-level schemas/ file.
_PACKAGED = "schemas/flow.schema.json"
_CHECKOUT = Path(__file__).resolve().parents[2] / "schemas" / "flow.schema.json"

_TYPE_NAMES = {
    "object": "a map",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schema_text() -> str:
    """The JSON Schema of flow documents, as published."""
    packaged = resources.files("interpreter").joinpath(_PACKAGED)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return _CHECKOUT.read_text(encoding="utf-8")


@cache
def flow_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(flow_schema())


def did_you_mean(word: str, candidates: Sequence[str]) -> str | None:
    """A hint naming the closest candidate, if one is close enough."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def validate_schema(doc: SourceDocument) -> list[Diagnostic]:
    """Every schema violation in `doc`, each located and explained."""
    found: list[Diagnostic] = []
    for error in _validator().iter_errors(doc.data):
        found.extend(_diagnose(doc, _most_relevant(error)))
    return found


_SWML_VAR = r"^[$%]\{.*\}$"


def _type_like(error: ValidationError) -> bool:
    """A failure that only says "not this kind of value": a type mismatch, or a
    string that is not a `${...}` variable where a variable was one option."""
    return error.validator == "type" or (error.validator == "pattern"
                                         and error.validator_value == _SWML_VAR)


def _most_relevant(error: ValidationError) -> ValidationError:
    """Descend into anyOf/oneOf to the branch the author most likely meant.

    A branch whose type matches the value beats a "wrong type" complaint (a map
    with a typo should hear about the typo, not that it is not a string); among
    the rest the deepest error wins, since it points closest to the mistake.
    """
    while error.validator in ("anyOf", "oneOf") and error.context:
        if all(_type_like(sub) and not sub.relative_path
               for sub in error.context):
            return error
        substantive = [sub for sub in error.context if not _type_like(sub)]
        candidates = substantive or list(error.context)
        error = max(candidates, key=lambda sub: len(sub.absolute_path))
    return error


def _where(path: JSONPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the document"


def _owner(path: JSONPath) -> str:
    """A short name for the object at `path`: the nearest string key."""
    for part in reversed(path):
        if isinstance(part, str):
            return f'"{part}"'
    return "the document" if not path else f"item {path[-1]}"


def _is_method_list_item(error: ValidationError) -> bool:
    schema = error.schema
    return (isinstance(schema, dict) and schema.get("maxProperties") == 1
            and "answer" in schema.get("properties", {}))


def _expected_types(types: object) -> str:
    names = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else []
    return " or ".join(_TYPE_NAMES.get(str(name), str(name)) for name in names)


def _diagnose(doc: SourceDocument, error: ValidationError) -> Iterator[Diagnostic]:
    path: JSONPath = tuple(error.absolute_path)
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "propertyNames" in error.relative_schema_path:
        # jsonschema reports the inner keyword with the key itself as instance.
        yield from _bad_property_name(doc, error, path)
        return
    match error.validator:
        case "additionalProperties" | "unevaluatedProperties":
            yield from _unknown_keys(doc, error, path, schema)
        case "required":
            required = error.validator_value if isinstance(error.validator_value, list) else []
            missing = [name for name in required
                       if isinstance(value, dict) and name not in value]
            for name in missing or ["?"]:
                yield doc.diagnostic("CK203", Severity.ERROR,
                                     f'missing required key "{name}" in {_owner(path)}',
                                     path, key=True)
        case "maxProperties" if _is_method_list_item(error):
            keys = ", ".join(f'"{key}"' for key in value) if isinstance(value, dict) else ""
            yield doc.diagnostic("CK206", Severity.ERROR,
                                 f"each method entry must be a map with exactly one key; "
                                 f"found {keys}", path,
                                 hint="start each method on its own '- ' list item")
        case "minProperties" if _is_method_list_item(error):
            yield doc.diagnostic("CK206", Severity.ERROR,
                                 "empty method entry; expected one key naming a method", path)
        case "type":
            yield doc.diagnostic("CK204", Severity.ERROR,
                                 f"{_where(path)} must be {_expected_types(error.validator_value)}"
                                 f", not {kind_of(value, yaml=True)}", path)
        case "anyOf" | "oneOf":
            expected = " or ".join(
                _expected_types(sub.validator_value) if sub.validator == "type"
                else "a ${...} variable" for sub in error.context or []
                if _type_like(sub)) or "a valid value"
            yield doc.diagnostic("CK204", Severity.ERROR,
                                 f"{_where(path)} must be {expected}, "
                                 f"not {kind_of(value, yaml=True)}", path)
        case "enum" | "const":
            allowed: list[Any] = (list(error.validator_value) if error.validator == "enum"
                                  and isinstance(error.validator_value, list)
                                  else [error.validator_value])
            shown = ", ".join(json.dumps(choice) for choice in allowed)
            hint = (did_you_mean(value, [str(c) for c in allowed])
                    if isinstance(value, str) else None)
            yield doc.diagnostic("CK205", Severity.ERROR,
                                 f"{_where(path)} is {json.dumps(value)}; expected one of {shown}",
                                 path, hint=hint)
        case _:
            yield doc.diagnostic("CK205", Severity.ERROR,
                                 f"{_where(path)}: {_plain_message(error)}", path)


def _unknown_keys(doc: SourceDocument, error: ValidationError, path: JSONPath,
                  schema: dict[str, Any]) -> Iterator[Diagnostic]:
    value = error.instance
    if not isinstance(value, dict):
        return
    known = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    for key in value:
        if key in known or any(re.search(pattern, key) for pattern in patterns):
            continue
        if _is_method_list_item(error):
            yield doc.diagnostic("CK201", Severity.ERROR, f'unknown method "{key}"',
                                 (*path, key), key=True, hint=did_you_mean(key, known))
        else:
            yield doc.diagnostic("CK202", Severity.ERROR,
                                 f'unknown key "{key}" in {_owner(path)}', (*path, key),
                                 key=True, hint=did_you_mean(key, known))


def _bad_property_name(doc: SourceDocument, error: ValidationError,
                       path: JSONPath) -> Iterator[Diagnostic]:
    key = str(error.instance)
    owner = _owner(path)
    match error.validator:
        case "enum":
            allowed = [str(name) for name in error.validator_value] \
                if isinstance(error.validator_value, list) else []
            message = f'"{key}" is not allowed in {owner}; expected one of ' + \
                ", ".join(json.dumps(name) for name in allowed)
            hint = did_you_mean(key, allowed)
        case "pattern":
            message = f'name "{key}" in {owner} must match {error.validator_value}'
            hint = None
        case _:
            message = f'name "{key}" in {owner}: {_plain_message(error)}'
            hint = None
    yield doc.diagnostic("CK205", Severity.ERROR, message, (*path, key), key=True, hint=hint)


def _plain_message(error: ValidationError) -> str:
    """jsonschema's message for the remaining keywords, phrased without reprs."""
    limit = error.validator_value
    match error.validator:
        case "minimum":
            return f"must be at least {limit}"
        case "maximum":
            return f"must be at most {limit}"
        case "exclusiveMinimum":
            return f"must be greater than {limit}"
        case "exclusiveMaximum":
            return f"must be less than {limit}"
        case "minLength":
            return f"must be at least {limit} characters long"
        case "maxLength":
            return f"must be at most {limit} characters long"
        case "pattern":
            return f"must match the pattern {limit}"
        case "minItems":
            return f"must have at least {limit} item(s)"
        case "maxItems":
            return f"must have at most {limit} item(s)"
        case "minProperties":
            return f"must have at least {limit} key(s)"
        case "maxProperties":
            return f"must have at most {limit} key(s)"
        case "uniqueItems":
            return "items must be unique"
        case "not":
            return "this combination of keys is not allowed"
    return error.message
