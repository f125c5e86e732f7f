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
    """A hint naming the closest candidate, if one is close enough.

    Typing slips (a letter dropped, doubled, swapped with its neighbour) come
    first, nearest first and then the same length ("paly" is "play", not
    "pay"); otherwise difflib's similarity decides."""
    choices = [c for c in dict.fromkeys(candidates) if c != word]
    limit = max(1, len(word) // 4) if len(word) >= 3 else 0
    slips = [(distance, abs(len(c) - len(word)), -difflib.SequenceMatcher(None, word, c).ratio(),
              c) for c in choices if abs(len(c) - len(word)) <= limit
             for distance in [edit_distance(word.lower(), c.lower())] if distance <= limit]
    if slips:
        return f'did you mean "{min(slips)[3]}"?'
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn a into b."""
    if len(a) > 64 or len(b) > 64:
        return max(len(a), len(b))
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, right in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (left != right))
            if i > 1 and j > 1 and left == b[j - 2] and a[i - 2] == right:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def validate_schema(doc: SourceDocument) -> list[Diagnostic]:
    """Every schema violation in `doc`, each located and explained."""
    errors = [leaf for error in _validator().iter_errors(doc.data)
              for leaf in _most_relevant(error)]
    # A method's argument written one level too far left becomes a second key
    # of the method entry: one CK206 saying "indent it" explains the entry, so
    # what else is reported inside that entry is a consequence, not news.
    dedented = {tuple(error.absolute_path) for error in errors if _dedented_arguments(error)}
    found: list[Diagnostic] = []
    for error in errors:
        path = tuple(error.absolute_path)
        if any(path[:len(entry)] == entry for entry in dedented) \
                and not _dedented_arguments(error):
            continue
        found.extend(_diagnose(doc, error))
    return found


_SWML_VAR = r"^[$%]\{.*\}$"


def _type_like(error: ValidationError) -> bool:
    """A failure that only says "not this kind of value": a type mismatch, or a
    string that is not a `${...}` variable where a variable was one option."""
    return error.validator == "type" or (error.validator == "pattern"
                                         and error.validator_value == _SWML_VAR)


def _most_relevant(error: ValidationError) -> list[ValidationError]:
    """Descend into anyOf/oneOf to the branch the author most likely meant, and
    return every error of that branch (a method list in a `confirm` or a
    `result` may hold several mistakes; each is reported).

    A branch whose type matches the value beats a "wrong type" complaint (a map
    with a typo should hear about the typo, not that it is not a string); among
    the rest the branch with the deepest error wins, since it points closest to
    the mistake. When the value fails every branch right at its own level only
    by type or by a fixed value (`functions: lookup` where the choices are the
    string "none" or a list), the anyOf error itself is kept, so the message
    names all the choices.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    context = list(error.context)
    if all(not sub.relative_path and (_type_like(sub) or sub.validator in ("const", "enum"))
           for sub in context):
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in context:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)

    def fits(errors: list[ValidationError]) -> bool:
        # A branch of another type says nothing about the value, even when it
        # also fails a `const` of that type.
        return not any(_type_like(sub) and not sub.relative_path for sub in errors)

    def strength(errors: list[ValidationError]) -> tuple[bool, int]:
        substantive = [sub for sub in errors if not _type_like(sub)]
        return fits(errors) and bool(substantive), max(len(sub.absolute_path)
                                                       for sub in substantive or errors)

    chosen = max(branches.values(), key=strength)
    # Inside the chosen branch, what is said of the value itself holds only
    # when the value has the branch's type.
    kept = [sub for sub in chosen if sub.relative_path
            or (fits(chosen) and not _type_like(sub))]
    return [leaf for sub in kept for leaf in _most_relevant(sub)] if kept else [error]


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


def _resolve(node: object) -> dict[str, Any]:
    """A schema node with its local `$ref` followed."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = flow_schema()
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node if isinstance(node, dict) else {}


def _property_names(node: object, depth: int = 0) -> set[str]:
    schema = _resolve(node)
    names = set(schema.get("properties", {}))
    if depth < 4:
        for combinator in ("anyOf", "oneOf", "allOf"):
            for branch in schema.get(combinator, []):
                names |= _property_names(branch, depth + 1)
    return names


@cache
def method_arguments(method: str) -> frozenset[str]:
    """The argument names a method accepts, from the schema."""
    verbs = flow_schema()["$defs"]["Verb"]["properties"]
    return frozenset(_property_names(verbs[method])) if method in verbs else frozenset()


def _dedented_arguments(error: ValidationError) -> tuple[str, list[str]] | None:
    """For a method entry with extra keys that are all arguments of its one
    method (`- connect: ...` with `result:` written under the `-`): the method
    and those keys."""
    if error.validator != "maxProperties" or not _is_method_list_item(error) \
            or not isinstance(error.instance, dict):
        return None
    verbs = flow_schema()["$defs"]["Verb"]["properties"]
    methods = [key for key in error.instance if key in verbs]
    others = [key for key in error.instance if key not in verbs]
    if len(methods) != 1 or not others \
            or not all(key in method_arguments(methods[0]) for key in others):
        return None
    return methods[0], others


# Methods other voice platforms have that SWML spells differently.
_SPEAK = 'SWML speaks text with play: {url: "say:%s"}'
_OTHER_PLATFORMS = {"say": _SPEAK, "speak": _SPEAK, "tts": _SPEAK, "talk": _SPEAK}


def _unknown_method_hint(doc: SourceDocument, key: str, value: object, path: JSONPath,
                         known: list[str]) -> str | None:
    if key in _OTHER_PLATFORMS:
        text = value if isinstance(value, str) and value.strip() else "…"
        return _OTHER_PLATFORMS[key] % text
    # `- result:` on its own item right after `- connect:`: it belongs to connect.
    if path and isinstance(path[-1], int) and path[-1] > 0:
        try:
            previous = doc.get((*path[:-1], path[-1] - 1))
        except (KeyError, IndexError, TypeError):
            previous = None
        if isinstance(previous, dict) and len(previous) == 1:
            method = next(iter(previous))
            if key in method_arguments(method):
                return (f'"{key}" is an argument of the {method} above: indent it under '
                        f'"{method}" and drop its "- "')
    return did_you_mean(key, known)


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
            dedented = _dedented_arguments(error)
            if dedented is not None:
                method, arguments = dedented
                names = ", ".join(f'"{key}"' for key in arguments)
                what = (f"are arguments of {method}" if len(arguments) > 1
                        else f"is an argument of {method}")
                yield doc.diagnostic(
                    "CK206", Severity.ERROR,
                    f'{names} {what}, but {"they are" if len(arguments) > 1 else "it is"} '
                    f'indented as a method beside "{method}"',
                    (*path, arguments[0]), key=True,
                    hint=f'indent {names} under "{method}", deeper than "{method}:"')
                return
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
            choices = [_choice(sub, path) for sub in error.context or []
                       if _type_like(sub) or sub.validator in ("const", "enum")]
            expected = " or ".join(dict.fromkeys(c for c in choices if c)) or "a valid value"
            shown = f"the string {json.dumps(value)}" if isinstance(value, str) \
                and any(sub.validator in ("const", "enum") for sub in error.context or []) \
                else kind_of(value, yaml=True)
            yield doc.diagnostic("CK204", Severity.ERROR,
                                 f"{_where(path)} must be {expected}, not {shown}", path,
                                 hint=_single_item_hint(error, value, path))
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


# What a list of names holds, by the key that holds it.
_LIST_NOUNS = {"functions": "function names", "valid_steps": "step names",
               "valid_contexts": "context names"}


def _choice(sub: ValidationError, path: JSONPath) -> str:
    """One alternative of an anyOf, in words: "none", a list of step names..."""
    schema = sub.schema if isinstance(sub.schema, dict) else {}
    match sub.validator:
        case "const":
            return json.dumps(sub.validator_value)
        case "enum":
            values = sub.validator_value if isinstance(sub.validator_value, list) else []
            return " or ".join(json.dumps(choice) for choice in values)
        case "pattern":
            return "a ${...} variable"
    if sub.validator_value == "array" and _resolve(schema.get("items")).get("type") == "string":
        owner = next((part for part in reversed(path) if isinstance(part, str)), "")
        return f"a list of {_LIST_NOUNS.get(owner, 'strings')}"
    return _expected_types(sub.validator_value)


def _single_item_hint(error: ValidationError, value: object, path: JSONPath) -> str | None:
    """`functions: lookup` where a list is expected: show the one-item list."""
    if not isinstance(value, str) or not isinstance(path[-1:][0] if path else None, str):
        return None
    if any(sub.validator == "type" and sub.validator_value == "array"
           for sub in error.context or []):
        return f"a single name is written as a list: {path[-1]}: [{value}]"
    return None


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
            if len(value) > 1 and _dedented_arguments(error) is None \
                    and any(key in method_arguments(other) for other in value):
                continue  # CK206 already says where this argument belongs
            yield doc.diagnostic("CK201", Severity.ERROR, f'unknown method "{key}"',
                                 (*path, key), key=True,
                                 hint=_unknown_method_hint(doc, key, value[key], path, known))
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
