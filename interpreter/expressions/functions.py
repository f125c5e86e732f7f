"""JavaScript value semantics, the whitelisted members and globals, and the
SWAIG prefix and @-functions.

Values are JSON plus `MISSING` (undefined). Numbers follow JavaScript: every
operation works on doubles, and a result that is a whole number within 2**53
comes back as `int`, so `4 / 2` is `2` and renders as "2", never "2.0".
Strings are sequences of code points (JavaScript counts UTF-16 units; the two
differ only outside the Basic Multilingual Plane).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TypeAlias
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from interpreter import safejson
from interpreter.expressions.ast import (
    MISSING,
    ExpressionRuntimeError,
    JSONValue,
    Missing,
    SwaigFilter,
)
from interpreter.limits import (
    ARRAY_MAX_LENGTH,
    JSON_PARSE_MAX_BYTES,
    STRING_MAX_LENGTH,
    VALUE_MAX_DEPTH,
)

JSValue: TypeAlias = "JSONValue | Missing"

# Strings an expression builds are capped, and checked before they are built
# (the size of a result is computed first); without loops this bounds the work.
MAX_STRING = STRING_MAX_LENGTH
_SAFE_INTEGER = 2**53
_WHITESPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX_LITERAL = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def checked(text: str) -> str:
    _limit(len(text))
    return text


def _limit(length: int | float) -> None:
    if length > MAX_STRING:
        shown = f"{length:,.0f}" if math.isfinite(length) else "endless"
        raise ExpressionRuntimeError(
            f"the expression would build a string of {shown} characters; "
            f"the limit is {MAX_STRING:,}")


def _limit_items(count: int | float) -> None:
    if count > ARRAY_MAX_LENGTH:
        raise ExpressionRuntimeError(
            f"the expression would build an array of {count:,.0f} elements; "
            f"the limit is {ARRAY_MAX_LENGTH:,}")


def joined(mark: str, parts: Sequence[str]) -> str:
    """`mark.join(parts)`, its length checked before it is built."""
    _limit(sum(map(len, parts)) + len(mark) * max(len(parts) - 1, 0))
    return mark.join(parts)


def number(value: float | int) -> float | int:
    """A numeric result as JSON should hold it: whole numbers as `int`."""
    if isinstance(value, int):
        return value if -_SAFE_INTEGER <= value <= _SAFE_INTEGER else _to_float(value)
    if value.is_integer() and -_SAFE_INTEGER <= value <= _SAFE_INTEGER \
            and (value != 0 or math.copysign(1.0, value) > 0):  # -0 stays: 1 / -0 is -Infinity
        return int(value)
    return value


def _to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


# ------------------------------------------------------------ conversions

def type_of(value: JSValue) -> str:
    if value is MISSING:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"  # null, arrays and objects, as in JavaScript


def is_truthy(value: JSValue) -> bool:
    """JavaScript truthiness: false, 0, NaN, "", null and undefined are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True  # arrays and objects, even empty ones


def to_number(value: JSValue) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        return _to_float(value)
    if isinstance(value, float):
        return value
    if value is None:
        return 0.0
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, list):
        return _string_to_number(to_string(value))
    return math.nan  # undefined and objects


def _string_to_number(text: str) -> float:
    text = text.strip(_WHITESPACE)
    if not text:
        return 0.0
    if _RADIX_LITERAL.fullmatch(text):
        return _to_float(int(text, 0))
    return float(text) if _DECIMAL.fullmatch(text) else math.nan


def to_integer(value: JSValue) -> float:
    """ToIntegerOrInfinity: NaN becomes 0, other numbers are truncated."""
    result = to_number(value)
    if math.isnan(result):
        return 0.0
    return result if math.isinf(result) else float(math.trunc(result))


def _to_int32(value: JSValue) -> int:
    """ToInt32: NaN and the infinities become 0, the rest wraps around 2**32."""
    result = to_number(value)
    if math.isnan(result) or math.isinf(result):
        return 0
    wrapped = math.trunc(result) % 2**32
    return wrapped - 2**32 if wrapped >= 2**31 else wrapped


def number_to_string(value: float | int) -> str:
    """Number::toString: "2" not "2.0", "1e+21", "0.000001", "1e-7"."""
    if isinstance(value, int) and -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
        return str(value)
    value = _to_float(value) if isinstance(value, int) else value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value < 0:
        return "-" + number_to_string(-value)
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if len(digits) <= point <= 21:
        return digits + "0" * (point - len(digits))
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    sign = "+" if point - 1 >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{head}e{sign}{abs(point - 1)}"


def to_string(value: JSValue) -> str:
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _array_text(value)
    return "[object Object]"


def _array_text(items: list[JSONValue]) -> str:
    """Array.prototype.toString: elements joined with commas, nested arrays
    flattened, null as "". Iterative, and stopped as soon as the text would
    pass the limit, so a deep or huge value costs neither stack nor memory."""
    pieces: list[str] = []
    size = 0
    pending: list[tuple[list[JSONValue], int]] = [(items, 0)]
    while pending:
        current, index = pending.pop()
        if index >= len(current):
            continue
        if index > 0:
            pieces.append(",")
            size += 1
        pending.append((current, index + 1))
        item = current[index]
        if isinstance(item, list):
            pending.append((item, 0))
            continue
        text = "" if item is None else to_string(item)
        size += len(text)
        _limit(size)
        pieces.append(text)
    return "".join(pieces)


def to_primitive(value: JSValue) -> JSValue:
    return to_string(value) if isinstance(value, list | dict) else value


# ------------------------------------------------------------ equality and members

def strict_equals(left: JSValue, right: JSValue) -> bool:
    kind = type_of(left)
    if kind != type_of(right):
        return False
    if kind == "number":
        return to_number(left) == to_number(right)
    if kind in ("string", "boolean"):
        return left == right
    return left is right  # undefined, null, and the identity of arrays/objects


def same_value_zero(left: JSValue, right: JSValue) -> bool:
    if type_of(left) == type_of(right) == "number":
        a, b = to_number(left), to_number(right)
        return a == b or (math.isnan(a) and math.isnan(b))
    return strict_equals(left, right)


def get_member(value: JSValue, key: JSValue) -> JSValue:
    """`value[key]`, lenient: reading through null or undefined gives undefined."""
    if isinstance(value, dict):
        return value.get(key if isinstance(key, str) else to_string(key), MISSING)
    if isinstance(value, list | str):
        if key == "length":
            return len(value)
        position = _array_index(key)
        if position is not None and position < len(value):
            return value[position]
    return MISSING


def _array_index(key: JSValue) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key if key >= 0 else None
    if isinstance(key, float):
        return int(key) if key.is_integer() and key >= 0 else None
    if isinstance(key, str) and key.isascii() and key.isdigit() and str(int(key)) == key:
        return int(key)
    return None


# ------------------------------------------------------------ members

STRING_METHODS = frozenset({
    "toLowerCase", "toUpperCase", "includes", "startsWith", "endsWith", "indexOf", "trim",
    "trimStart", "trimEnd", "slice", "substring", "split", "replace", "replaceAll", "charAt",
    "padStart", "padEnd", "concat", "toString"})
ARRAY_METHODS = frozenset({"includes", "indexOf", "join", "slice", "concat", "toString"})
NUMBER_METHODS = frozenset({"toFixed", "toString"})
METHODS = STRING_METHODS | ARRAY_METHODS | NUMBER_METHODS
GLOBAL_FUNCTIONS = frozenset({"parseInt", "parseFloat", "Number", "String", "Boolean", "isNaN"})
NAMESPACE_FUNCTIONS = {
    "Math": frozenset({"floor", "ceil", "round", "abs", "min", "max"}),
    "JSON": frozenset({"stringify", "parse"}),
}


def describe(value: JSValue) -> str:
    """A value's type as an error message names it."""
    if value is MISSING:
        return "undefined (a missing value)"
    if value is None:
        return "null"
    kind = "array" if isinstance(value, list) else type_of(value)
    return ("an " if kind[0] in "ao" else "a ") + kind


def _arg(args: Sequence[JSValue], position: int) -> JSValue:
    return args[position] if position < len(args) else MISSING


def _relative(value: JSValue, length: int, default: int) -> int:
    """A slice bound: negative counts from the end, clamped to [0, length]."""
    if value is MISSING:
        return default
    index = to_integer(value)
    if index < 0:
        return int(max(length + index, 0))
    return int(min(index, length))


def _clamped(value: JSValue, length: int, default: int) -> int:
    return default if value is MISSING else int(min(max(to_integer(value), 0), length))


def call_method(target: JSValue, name: str, args: Sequence[JSValue]) -> JSValue:
    if isinstance(target, str) and name in STRING_METHODS:
        return _string_method(target, name, args)
    if isinstance(target, list) and name in ARRAY_METHODS:
        return _array_method(target, name, args)
    if name == "toFixed" and type_of(target) == "number":
        return _to_fixed(to_number(target), _arg(args, 0))
    if name == "toString" and target is not MISSING and target is not None:
        if args and args[0] is not MISSING and to_number(args[0]) != 10:
            raise ExpressionRuntimeError("toString() with a radix other than 10 is not supported")
        return to_string(target)
    raise ExpressionRuntimeError(f"cannot call .{name}() on {describe(target)}")


def _string_method(text: str, name: str, args: Sequence[JSValue]) -> JSValue:
    first, second = _arg(args, 0), _arg(args, 1)
    size = len(text)
    match name:
        case "toLowerCase":
            _limit(size)  # case mappings never shorten a text
            return checked(text.lower())
        case "toUpperCase":
            _limit(size)
            return checked(text.upper())
        case "trim":
            return text.strip(_WHITESPACE)
        case "trimStart":
            return text.lstrip(_WHITESPACE)
        case "trimEnd":
            return text.rstrip(_WHITESPACE)
        case "includes":
            return text.find(to_string(first), _clamped(second, size, 0)) != -1
        case "startsWith":
            return text.startswith(to_string(first), _clamped(second, size, 0))
        case "endsWith":
            return text[:_clamped(second, size, size)].endswith(to_string(first))
        case "indexOf":
            return text.find(to_string(first), _clamped(second, size, 0))
        case "slice":
            return text[_relative(first, size, 0):_relative(second, size, size)]
        case "substring":
            start, end = _clamped(first, size, 0), _clamped(second, size, size)
            return text[min(start, end):max(start, end)]
        case "split":
            return _split(text, first, second)
        case "replace" | "replaceAll":
            return _replace(text, to_string(first), to_string(second), name == "replaceAll")
        case "charAt":
            index = to_integer(first)
            return text[int(index)] if 0 <= index < size else ""
        case "padStart" | "padEnd":
            return _pad(text, first, second, at_start=name == "padStart")
        case "concat":
            return joined("", [text, *(to_string(arg) for arg in args)])
        case _:
            return text  # toString


def _split(text: str, separator: JSValue, limit: JSValue) -> list[JSONValue]:
    count = 2**32 - 1 if limit is MISSING else _to_int32(limit) % 2**32
    if separator is MISSING:
        whole: list[JSONValue] = [text]
        return whole[:count]
    mark = to_string(separator)
    # The number of parts first (at C speed), so a huge split is refused unbuilt.
    _limit_items(min(count, len(text) if mark == "" else text.count(mark) + 1))
    parts = list(text[:count]) if mark == "" else text.split(mark, min(count, len(text)))
    result: list[JSONValue] = list(parts[:count])
    return result


def _replace(text: str, pattern: str, replacement: str, every: bool) -> str:
    # The result's length is computed before anything is built: each match
    # adds the replacement, with `$&`, `` $` `` and `$'` standing for the
    # match, the text before it and the text after it.
    if pattern == "":
        matches = len(text) + 1 if every else 1
    else:
        matches = text.count(pattern) if every else int(pattern in text)
    if matches == 0:
        return text
    if "$" not in replacement:
        _limit(len(text) + matches * (len(replacement) - len(pattern)))
        if every:
            return text.replace(pattern, replacement) if pattern else \
                replacement + replacement.join(text) + replacement
        return text.replace(pattern, replacement, 1)
    found = _DOLLAR.findall(replacement)
    counts = {mark: found.count(mark) for mark in "$&`'"}
    fixed = len(replacement) - 2 * len(found) + counts["$"]
    size = len(text) - matches * len(pattern)
    for position in _positions(text, pattern, every):
        size += fixed + counts["&"] * len(pattern) + counts["`"] * position \
            + counts["'"] * (len(text) - position - len(pattern))
        _limit(size)
    pieces, last = [], 0
    for position in _positions(text, pattern, every):
        pieces += [text[last:position], _substitution(replacement, text, position, pattern)]
        last = position + len(pattern)
    return checked("".join(pieces) + text[last:])


def _positions(text: str, pattern: str, every: bool) -> Iterator[int]:
    """Where `pattern` matches, left to right, without overlaps."""
    if pattern == "":
        yield from range(len(text) + 1) if every else (0,)
        return
    found = text.find(pattern)
    while found != -1:
        yield found
        found = text.find(pattern, found + len(pattern)) if every else -1


def _substitution(replacement: str, text: str, position: int, matched: str) -> str:
    """The `$$`, `$&`, `` $` `` and `$'` patterns of String.prototype.replace."""
    if "$" not in replacement:
        return replacement
    table = {"$": "$", "&": matched, "`": text[:position],
             "'": text[position + len(matched):]}
    return _DOLLAR.sub(lambda match: table[match.group(1)], replacement)


_DOLLAR = re.compile(r"\$([$&`'])")


def _pad(text: str, length: JSValue, filler: JSValue, at_start: bool) -> str:
    target = to_integer(length)
    fill = " " if filler is MISSING else to_string(filler)
    if target <= len(text) or fill == "":
        return text
    _limit(target)
    missing = int(target) - len(text)
    padding = fill * (missing // len(fill)) + fill[:missing % len(fill)]
    return padding + text if at_start else text + padding


def _to_fixed(value: float, digits: JSValue) -> str:
    places = to_integer(digits)
    if not 0 <= places <= 100:
        raise ExpressionRuntimeError("toFixed() takes between 0 and 100 digits")
    if math.isnan(value) or math.isinf(value) or abs(value) >= 1e21:
        return number_to_string(value)
    exact = Decimal(value if value != 0 else 0.0)  # -0 prints as "0", as in JavaScript
    rounded = exact.quantize(Decimal(1).scaleb(-int(places)), ROUND_HALF_UP, Context(prec=200))
    return format(rounded, "f")


def _array_method(items: list[JSONValue], name: str, args: Sequence[JSValue]) -> JSValue:
    first, second = _arg(args, 0), _arg(args, 1)
    size = len(items)
    match name:
        case "includes":
            start = _relative(second, size, 0)
            return any(same_value_zero(item, first) for item in items[start:])
        case "indexOf":
            start = _relative(second, size, 0)
            return next((position for position in range(start, size)
                         if strict_equals(items[position], first)), -1)
        case "join":
            mark = "," if first is MISSING else to_string(first)
            return joined(mark, ["" if item is None else to_string(item) for item in items])
        case "slice":
            return items[_relative(first, size, 0):_relative(second, size, size)]
        case "concat":
            _limit_items(size + sum(len(arg) if isinstance(arg, list) else 1 for arg in args))
            combined = list(items)
            for arg in args:
                if isinstance(arg, list):
                    combined.extend(arg)
                else:
                    combined.append(None if arg is MISSING else arg)
            return combined
        case _:
            return to_string(items)  # toString


# ------------------------------------------------------------ globals

def call_global(name: str, args: Sequence[JSValue]) -> JSValue:
    first = _arg(args, 0)
    match name:
        case "parseInt":
            return _parse_int(to_string(first), _arg(args, 1))
        case "parseFloat":
            found = _DECIMAL.match(to_string(first).lstrip(_WHITESPACE))
            return number(float(found.group())) if found else math.nan
        case "Number":
            return number(to_number(first)) if args else 0
        case "String":
            return to_string(first) if args else ""
        case "Boolean":
            return is_truthy(first)
        case "isNaN":
            return math.isnan(to_number(first))
        case "Math.floor" | "Math.ceil" | "Math.round" | "Math.abs":
            return _rounding(name, to_number(first))
        case "Math.min" | "Math.max":
            values = [to_number(arg) for arg in args]
            if any(math.isnan(value) for value in values):
                return math.nan
            pick = min if name == "Math.min" else max
            return number(pick(values, default=math.inf if name == "Math.min" else -math.inf))
        case "JSON.stringify":
            return json_stringify(first)
        case "JSON.parse":
            return _json_parse(to_string(first))
    raise ExpressionRuntimeError(f"unknown function {name}()")


def _parse_int(text: str, radix_value: JSValue) -> float | int:
    text = text.lstrip(_WHITESPACE)
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in ("-", "+") else text
    radix = _to_int32(radix_value)
    if radix != 0 and not 2 <= radix <= 36:
        return math.nan
    if radix in (0, 16) and text[:2].lower() == "0x":
        text, radix = text[2:], 16
    radix = radix or 10
    valid = _DIGITS[:radix]
    end = 0
    while end < len(text) and text[end].lower() in valid:
        end += 1
    if not end:
        return math.nan
    digits = text[:end].lstrip("0") or "0"
    if len(digits) > 1100:  # past 2**1024 in any radix: Infinity, as a double
        return sign * math.inf
    return number(sign * _to_float(int(digits, radix)))


def _rounding(name: str, value: float) -> float | int:
    if math.isnan(value) or math.isinf(value):
        return abs(value) if name == "Math.abs" else value
    match name:
        case "Math.floor":
            return number(float(math.floor(value)))
        case "Math.ceil":
            return number(float(math.ceil(value)))
        case "Math.abs":
            return number(abs(value))
        case _:  # Math.round: halves go up, toward +Infinity, unlike Python's round()
            floor = math.floor(value)
            return number(float(floor + 1 if value - floor >= 0.5 else floor))


def json_stringify(value: JSValue) -> str | Missing:
    return MISSING if value is MISSING else _json(value)


def _json_scalar(value: JSONValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        finite = not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))
        return number_to_string(value) if finite else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "null"  # pragma: no cover - lists and dicts are walked by _json


def _json(value: JSValue) -> str:
    """Compact JSON, as JSON.stringify writes it. Iterative, and stopped as soon
    as the text would pass the limit: a deep value costs no stack, a huge one
    no memory."""
    if value is MISSING:
        return "null"
    pieces: list[str] = []
    size = 0
    # The stack holds values still to write and the punctuation between them.
    pending: list[JSONValue | _Punct] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Punct):
            text = item.text
        elif isinstance(item, list):
            pending.append(_CLOSE_LIST)
            for index in range(len(item) - 1, -1, -1):
                pending.append(item[index])
                if index:
                    pending.append(_COMMA)
            text = "["
        elif isinstance(item, dict):
            pending.append(_CLOSE_MAP)
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, member = entries[index]
                pending.append(member)
                pending.append(_Punct(json.dumps(key, ensure_ascii=False) + ":"))
                if index:
                    pending.append(_COMMA)
            text = "{"
        else:
            text = _json_scalar(item)
        size += len(text)
        _limit(size)
        pieces.append(text)
    return "".join(pieces)


class _Punct:
    """Text between values while `_json` walks them."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_COMMA, _CLOSE_LIST, _CLOSE_MAP = _Punct(","), _Punct("]"), _Punct("}")


def _json_parse(text: str) -> JSONValue:
    try:
        parsed = safejson.loads(text, max_depth=VALUE_MAX_DEPTH, max_bytes=JSON_PARSE_MAX_BYTES)
    except safejson.JSONInputError as error:
        raise ExpressionRuntimeError(f"JSON.parse(): {error}") from None
    return _js_numbers(parsed)


def _js_numbers(value: JSONValue) -> JSONValue:
    """Numbers as JavaScript holds them (doubles, whole ones as int): 2.0 is 2,
    and an integer past 2**53 is rounded. Iterative."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(float(value))
    pending: list[JSONValue] = [value]
    while pending:
        container = pending.pop()
        if isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, int | float) and not isinstance(item, bool):
                    container[index] = number(float(item))
                elif isinstance(item, list | dict):
                    pending.append(item)
        elif isinstance(container, dict):
            for key, item in container.items():
                if isinstance(item, int | float) and not isinstance(item, bool):
                    container[key] = number(float(item))
                elif isinstance(item, list | dict):
                    pending.append(item)
    return value


# ------------------------------------------------------------ SWAIG

SWAIG_FILTERS: tuple[SwaigFilter, ...] = ("lc", "uc", "enc:url", "enc:html")
SWAIG_FUNCTIONS = ("strftime_tz", "fmt_ph", "expr", "echo", "separate", "sleep")
PHONE_FORMATS = ("national", "international", "RFC3966", "e164")


def apply_filter(name: SwaigFilter, text: str) -> str:
    match name:
        case "lc":
            return text.lower()
        case "uc":
            return text.upper()
        case "enc:url":
            return quote(text, safe="", errors="replace")
        case "enc:html":
            return html.escape(text)


def strftime_tz(arguments: str, now: datetime) -> str:
    """`@{strftime_tz America/Chicago %H:%M}`: the time now in a zone."""
    zone_name, _, layout = arguments.partition(" ")
    if not zone_name or not layout.strip():
        raise ExpressionRuntimeError("@{strftime_tz} needs a time zone and a format")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ExpressionRuntimeError(f"@{{strftime_tz}}: unknown time zone {zone_name!r}") \
            from None
    try:
        return now.astimezone(zone).strftime(layout.strip())
    except ValueError as error:
        raise ExpressionRuntimeError(f"@{{strftime_tz}}: {error}") from None


def phone_format(spec: str) -> tuple[str, str | None] | None:
    """`national` or `national:sep:-` as (format, separator); None if invalid."""
    name, _, rest = spec.partition(":")
    canonical = next((known for known in PHONE_FORMATS if known.lower() == name.lower()), None)
    if canonical is None or (rest and not rest.startswith("sep:")):
        return None
    return canonical, (rest[4:] or None) if rest else None


def fmt_ph(arguments: str) -> str:
    """`@{fmt_ph national +15551234567}`. NANP (+1) numbers are formatted;
    others pass through in E.164, or unchanged without a leading +."""
    spec, _, raw = arguments.partition(" ")
    parsed = phone_format(spec)
    if parsed is None:
        raise ExpressionRuntimeError(
            f"@{{fmt_ph}}: unknown format {spec!r}; use one of {', '.join(PHONE_FORMATS)}"
            " (optionally with :sep:<character>)")
    layout, separator = parsed
    raw = raw.strip()
    digits = re.sub(r"[^0-9]", "", raw)
    plus = raw.startswith("+")
    if (len(digits) == 11 and digits[0] == "1") or (len(digits) == 10 and not plus):
        area, exchange, line = digits[-10:-7], digits[-7:-4], digits[-4:]
        match layout:
            case "national":
                return separator.join((area, exchange, line)) if separator \
                    else f"({area}) {exchange}-{line}"
            case "international":
                return separator.join(("+1", area, exchange, line)) if separator \
                    else f"+1 {area}-{exchange}-{line}"
            case "RFC3966":
                return f"tel:+1-{area}-{exchange}-{line}"
            case _:
                return f"+1{area}{exchange}{line}"
    if not plus or not digits:
        return raw
    return f"tel:+{digits}" if layout == "RFC3966" else f"+{digits}"


def separate(text: str) -> str:
    """`@{separate 1234}` -> "1 2 3 4", so speech reads digits one by one."""
    return " ".join(character for character in text if not character.isspace())
