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
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TypeAlias
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from interpreter.expressions.ast import (
    MISSING,
    ExpressionRuntimeError,
    JSONValue,
    Missing,
    SwaigFilter,
)

JSValue: TypeAlias = "JSONValue | Missing"

# Strings an expression builds are capped; without loops this bounds the work too.
MAX_STRING = 64 * 1024
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
        raise ExpressionRuntimeError(
            f"the expression would build a string of {length:.0f} characters; "
            f"the limit is {MAX_STRING}")


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
        return checked(",".join("" if item is None else to_string(item) for item in value))
    return "[object Object]"


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
            return text.lower()
        case "toUpperCase":
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
            return checked(text + "".join(to_string(arg) for arg in args))
        case _:
            return text  # toString


def _split(text: str, separator: JSValue, limit: JSValue) -> list[JSONValue]:
    count = 2**32 - 1 if limit is MISSING else _to_int32(limit) % 2**32
    if separator is MISSING:
        parts = [text]
    else:
        mark = to_string(separator)
        parts = list(text) if mark == "" else text.split(mark)
    result: list[JSONValue] = list(parts[:count])
    return result


def _replace(text: str, pattern: str, replacement: str, every: bool) -> str:
    if pattern == "":
        positions = list(range(len(text) + 1)) if every else [0]
    else:
        positions = []
        found = text.find(pattern)
        while found != -1:
            positions.append(found)
            found = text.find(pattern, found + len(pattern)) if every else -1
    pieces, last = [], 0
    for position in positions:
        pieces += [text[last:position], _substitution(replacement, text, position, pattern)]
        last = position + len(pattern)
    return checked("".join(pieces) + text[last:])


def _substitution(replacement: str, text: str, position: int, matched: str) -> str:
    """The `$$`, `$&`, `` $` `` and `$'` patterns of String.prototype.replace."""
    if "$" not in replacement:
        return replacement
    table = {"$": "$", "&": matched, "`": text[:position],
             "'": text[position + len(matched):]}
    return re.sub(r"\$([$&`'])", lambda match: table[match.group(1)], replacement)


def _pad(text: str, length: JSValue, filler: JSValue, at_start: bool) -> str:
    target = to_integer(length)
    fill = " " if filler is MISSING else to_string(filler)
    if target <= len(text) or fill == "":
        return text
    _limit(target)
    missing = int(target) - len(text)
    padding = (fill * (missing // len(fill) + 1))[:missing]
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
            return checked(mark.join("" if item is None else to_string(item) for item in items))
        case "slice":
            return items[_relative(first, size, 0):_relative(second, size, size)]
        case "concat":
            joined = list(items)
            for arg in args:
                if isinstance(arg, list):
                    joined.extend(arg)
                else:
                    joined.append(None if arg is MISSING else arg)
            return joined
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
    return MISSING if value is MISSING else checked(_json(value))


def _json(value: JSValue) -> str:
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        finite = not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))
        return number_to_string(value) if finite else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_json(item) for item in value) + "]"
    return "{" + ",".join(f"{json.dumps(key, ensure_ascii=False)}:{_json(item)}"
                          for key, item in value.items()) + "}"


def _json_parse(text: str) -> JSONValue:
    def reject(constant: str) -> JSONValue:
        raise ValueError(f"{constant} is not JSON")

    try:
        parsed: JSONValue = json.loads(text, parse_constant=reject,
                                       parse_float=lambda raw: number(float(raw)),
                                       parse_int=lambda raw: number(float(raw)))
    except (ValueError, RecursionError) as error:
        raise ExpressionRuntimeError(f"JSON.parse(): {error}") from None
    return parsed


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
