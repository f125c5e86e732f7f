"""Parse JSON from outside (webhook replies, includes, model events, data_map
responses) within bounds on size and nesting, checked before the parser runs.

`loads` refuses, with a `JSONInputError` (a `ValueError`) that says why:

- text over `max_bytes` (UTF-8 bytes), before anything is decoded or parsed;
- nesting deeper than `max_depth`, found by a linear scan of the brackets
  outside strings before `json` recurses (so 10,000 levels cost microseconds,
  not a RecursionError);
- text that is not JSON, including `NaN`, `Infinity` and bytes that are not
  UTF-8;
- numbers that are not finite as a double (`1e999`, a 400-digit integer).

Lone UTF-16 surrogates (`"\\ud800"`) are replaced with U+FFFD, so every
string that comes back can be encoded as UTF-8 again.
"""

from __future__ import annotations

import json
import re
import sys

from interpreter.jsontypes import JSONValue

_MAX_DOUBLE_INT = int(sys.float_info.max)
_MAX_INT_DIGITS = len(str(_MAX_DOUBLE_INT))


class JSONInputError(ValueError):
    """JSON from outside was refused; the subclass says why."""


class JSONTooLarge(JSONInputError):
    """Over the size limit; refused before decoding."""


class JSONTooDeep(JSONInputError):
    """Nested deeper than the limit; refused before parsing."""


class InvalidJSON(JSONInputError):
    """Not JSON (a syntax error, NaN or Infinity, bytes that are not UTF-8)."""


class JSONNumberOutOfRange(JSONInputError):
    """A number that is not finite as a double."""


def loads(data: bytes | str, *, max_depth: int, max_bytes: int) -> JSONValue:
    """The JSON value in `data`; `JSONInputError` if it is over a bound or not JSON."""
    text = _text(data, max_bytes)
    offset = find_too_deep(text, max_depth)
    if offset is not None:
        line, col = _position(text, offset)
        raise JSONTooDeep(f"JSON nests deeper than {max_depth} levels "
                          f"(line {line} column {col})")
    try:
        value: JSONValue = json.loads(text, parse_constant=_reject_constant,
                                      parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as error:
        raise InvalidJSON(f"not JSON: {error.msg} (line {error.lineno} column {error.colno})"
                          ) from None
    except RecursionError:  # pragma: no cover - the scan above refuses first
        raise JSONTooDeep(f"JSON nests deeper than {max_depth} levels") from None
    if _SURROGATE.search(text):
        value = _without_lone_surrogates(value)
    return value


def _text(data: bytes | str, max_bytes: int) -> str:
    if isinstance(data, str):
        # A character is at least one byte, so only long text needs encoding.
        size = len(data) if len(data) * 4 <= max_bytes else \
            len(data.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise JSONTooLarge(f"JSON text is over the limit of {max_bytes:,} bytes")
        return data
    if len(data) > max_bytes:
        raise JSONTooLarge(f"JSON is {len(data):,} bytes, over the limit of {max_bytes:,} bytes")
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJSON(f"not JSON: not UTF-8 text (byte {error.start})") from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[{]+|[\]}]+")


def find_too_deep(text: str, max_depth: int) -> int | None:
    """The offset of the first `[` or `{` nested deeper than `max_depth` (outside
    strings), or None. Linear; exact for JSON, an estimate for other text."""
    if text.count("[") + text.count("{") <= max_depth:
        return None  # not enough openers to get that deep: no scan needed
    if _deepest(_STRING.sub('""', text)) <= max_depth:
        return None  # strings stripped at C speed; offsets are only needed on failure
    depth = 0
    position = 0
    while True:
        string = _STRING.search(text, position)
        end = string.start() if string else len(text)
        for run in _BRACKETS.finditer(text, position, end):
            if run.group()[0] in "[{":
                if depth + len(run.group()) > max_depth:
                    return run.start() + max_depth - depth
                depth += len(run.group())
            else:
                depth = max(depth - len(run.group()), 0)
        if string is None:
            return None  # pragma: no cover - the stripped scan found it deep
        position = string.end()


def _deepest(text: str) -> int:
    deepest = depth = 0
    for run in _BRACKETS.finditer(text):
        if run.group()[0] in "[{":
            depth += len(run.group())
            deepest = max(deepest, depth)
        else:
            depth = max(depth - len(run.group()), 0)
    return deepest


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _reject_constant(name: str) -> None:
    raise InvalidJSON(f"not JSON: {name} is not a JSON value")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JSONNumberOutOfRange(f"number {_shown(text)} is out of range (not finite)")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise JSONNumberOutOfRange(f"number {_shown(text)} is out of range "
                                   f"({len(text.lstrip('-'))} digits)")
    value = int(text)
    if abs(value) > _MAX_DOUBLE_INT:
        raise JSONNumberOutOfRange(f"number {_shown(text)} is out of range (not finite)")
    return value


def _shown(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "…"


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _fixed(text: str) -> str:
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _without_lone_surrogates(value: JSONValue) -> JSONValue:
    """`value` with every lone surrogate in its strings (and keys) replaced."""
    if isinstance(value, str):
        return _fixed(value)
    if not isinstance(value, list | dict):
        return value
    root: list[JSONValue] = [value]
    pending: list[list[JSONValue] | dict[str, JSONValue]] = [root]
    while pending:  # iterative: the depth was bounded, but no recursion is needed
        container = pending.pop()
        if isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, str):
                    container[index] = _fixed(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
        else:
            for key in list(container):
                item = container.pop(key)
                if isinstance(item, str):
                    item = _fixed(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
                container[_fixed(key)] = item
    return root[0]
