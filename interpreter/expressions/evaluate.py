"""Evaluate Calling-SWML expressions and render both kinds of template.

One function per language walks the closed set of node types with `match`.
There are no loops or definitions in either language, so evaluation time is
bounded by the size of the tree (at most 64 levels deep) and of the strings
built, which `functions` caps before building them. A template's parts may
insert at most `STRING_MAX_LENGTH` characters in all into one string (the
document's own text around them does not count).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from interpreter.expressions.ast import (
    MISSING,
    ArrayLiteral,
    Binary,
    Call,
    Conditional,
    Constant,
    Expr,
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    Index,
    JSONValue,
    Logical,
    Lookup,
    Member,
    MethodCall,
    Missing,
    ObjectLiteral,
    SwaigFunction,
    SwaigTemplate,
    SwaigVar,
    SwmlTemplate,
    Unary,
)
from interpreter.expressions.functions import (
    MAX_STRING,
    JSValue,
    apply_filter,
    call_global,
    call_method,
    fmt_ph,
    get_member,
    is_truthy,
    joined,
    json_stringify,
    number,
    number_to_string,
    separate,
    strftime_tz,
    strict_equals,
    to_number,
    to_primitive,
    to_string,
    type_of,
)
from interpreter.expressions.parse import parse_arithmetic


class Scope(Protocol):
    """Where the roots of a Calling-SWML expression come from."""

    def lookup(self, root: str) -> JSONValue | Missing: ...


@dataclass(frozen=True, slots=True)
class MappingScope:
    """The four Calling-SWML scopes. An unprefixed name is looked up in `vars`,
    then `envs`, then `call`, as in SWML's variables."""

    call: dict[str, JSONValue] = field(default_factory=dict)
    params: dict[str, JSONValue] = field(default_factory=dict)
    vars: dict[str, JSONValue] = field(default_factory=dict)
    envs: dict[str, JSONValue] = field(default_factory=dict)

    def lookup(self, root: str) -> JSONValue | Missing:
        match root:
            case "call":
                return self.call
            case "params":
                return self.params
            case "vars":
                return self.vars
            case "envs":
                return self.envs
        for source in (self.vars, self.envs, self.call):
            if root in source:
                return source[root]
        return MISSING


@dataclass(frozen=True, slots=True)
class SwaigScope:
    """The roots a SWAIG template reads (`args`, `global_data`, `meta_data`,
    prompt variables, webhook reply keys...), and the clock for strftime_tz."""

    roots: dict[str, JSONValue] = field(default_factory=dict)
    now: datetime | None = None

    def lookup(self, root: str) -> JSONValue | Missing:
        return self.roots.get(root, MISSING)

    def current_time(self) -> datetime:
        if self.now is None:
            return datetime.now(UTC)
        return self.now if self.now.tzinfo else self.now.replace(tzinfo=UTC)


# ------------------------------------------------------------ Calling SWML

def evaluate_js(expr: Expr, scope: Scope) -> JSONValue:
    """The value of a bare expression (`cond.when`); undefined comes back as None."""
    value = evaluate(expr, scope)
    return None if value is MISSING else value


def render_swml(template: SwmlTemplate, scope: Scope) -> JSONValue:
    """A string that is exactly one `${...}` keeps the value's type (a number,
    an object, ...; "" when undefined); otherwise the parts are joined as text,
    with null and undefined as "".

    A lone value read from the scope is returned as it is, not copied: a caller
    that stores it and later mutates one side must copy it first."""
    parts = template.parts
    if len(parts) == 1 and not isinstance(parts[0], str):
        value = evaluate(parts[0], scope)
        return "" if value is MISSING else value
    pieces: list[str] = []
    budget = _Budget()
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
        else:
            value = evaluate(part, scope)
            text = "" if value is MISSING or value is None else to_string(value)
            pieces.append(budget.spend(text))
    return "".join(pieces)


class _Budget:
    """What a template's parts have inserted so far, checked against the limit."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0

    def check(self, length: int) -> None:
        """Refuse before building text of `length` more characters that would not fit."""
        if self.used + length > MAX_STRING:
            raise ExpressionRuntimeError(
                f"the template's parts would insert {self.used + length:,} characters; "
                f"the limit is {MAX_STRING:,}")

    def spend(self, text: str) -> str:
        self.check(len(text))
        self.used += len(text)
        return text


def evaluate(expr: Expr, scope: Scope) -> JSValue:
    """The JavaScript value of `expr`, with `MISSING` for undefined."""
    try:
        return _evaluate(expr, scope)
    except RecursionError:  # pragma: no cover - trees are 64 deep, values walked iteratively
        raise ExpressionRuntimeError("value nested too deeply") from None


def _evaluate(expr: Expr, scope: Scope) -> JSValue:
    match expr:
        case Constant(value):
            return value
        case Lookup(root, path):
            value = scope.lookup(root)
            for key in path:
                value = get_member(value, key)
            return value
        case Member(target, name):
            return get_member(_evaluate(target, scope), name)
        case Index(target, index):
            return get_member(_evaluate(target, scope), _evaluate(index, scope))
        case Unary(op, operand):
            return _unary(op, _evaluate(operand, scope))
        case Binary(op, left, right):
            return _binary(op, _evaluate(left, scope), _evaluate(right, scope))
        case Logical(op, left, right):
            first = _evaluate(left, scope)
            match op:
                case "&&":
                    return _evaluate(right, scope) if is_truthy(first) else first
                case "||":
                    return first if is_truthy(first) else _evaluate(right, scope)
                case "??":
                    return _evaluate(right, scope) if first is None or first is MISSING \
                        else first
        case Conditional(test, then, otherwise):
            return _evaluate(then if is_truthy(_evaluate(test, scope)) else otherwise, scope)
        case MethodCall(target, method, args):
            return call_method(_evaluate(target, scope), method,
                               [_evaluate(arg, scope) for arg in args])
        case Call(function, args):
            return call_global(function, [_evaluate(arg, scope) for arg in args])
        case ArrayLiteral(items):
            return [_json(_evaluate(item, scope)) for item in items]
        case ObjectLiteral(entries):
            built = {key: _evaluate(value, scope) for key, value in entries}
            return {key: value for key, value in built.items() if value is not MISSING}


def _json(value: JSValue) -> JSONValue:
    return None if value is MISSING else value  # JSON has no undefined


def _unary(op: str, value: JSValue) -> JSValue:
    match op:
        case "!":
            return not is_truthy(value)
        case "-":
            return number(-to_number(value))
        case "+":
            return number(to_number(value))
        case _:
            return type_of(value)


def _binary(op: str, left: JSValue, right: JSValue) -> JSValue:
    match op:
        case "===":
            return strict_equals(left, right)
        case "!==":
            return not strict_equals(left, right)
        case "==":
            return loose_equals(left, right)
        case "!=":
            return not loose_equals(left, right)
        case "<" | "<=" | ">" | ">=":
            return compare(op, left, right)
        case _:
            return arithmetic(op, left, right)


def loose_equals(left: JSValue, right: JSValue) -> bool:
    """`==`: the Abstract Equality Comparison of ECMAScript."""
    left_kind, right_kind = type_of(left), type_of(right)
    if left_kind == right_kind:
        return strict_equals(left, right)
    if {left_kind, right_kind} == {"undefined", "object"}:
        return left is None or right is None  # null == undefined, nothing else
    if left_kind == "undefined" or right_kind == "undefined" or left is None or right is None:
        return False
    if left_kind == "boolean" or right_kind == "boolean":
        return loose_equals(
            to_number(left) if left_kind == "boolean" else left,
            to_number(right) if right_kind == "boolean" else right)
    if left_kind == "object" or right_kind == "object":
        return loose_equals(to_primitive(left), to_primitive(right))
    return to_number(left) == to_number(right)  # number and string


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compare(op: str, left: JSValue, right: JSValue) -> bool:
    """`<` and friends: two strings compare as text, anything else as numbers
    (where NaN makes every comparison false, in Python as in JavaScript)."""
    left, right = to_primitive(left), to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return bool(_ORDER[op](left, right))
    return bool(_ORDER[op](to_number(left), to_number(right)))


def arithmetic(op: str, left: JSValue, right: JSValue) -> JSValue:
    if op == "+":
        left, right = to_primitive(left), to_primitive(right)
        if isinstance(left, str) or isinstance(right, str):
            return joined("", [to_string(left), to_string(right)])
    a, b = to_number(left), to_number(right)
    match op:
        case "+":
            return number(a + b)
        case "-":
            return number(a - b)
        case "*":
            return number(a * b)
        case "/":
            if b == 0:
                if a == 0 or math.isnan(a):
                    return math.nan
                return math.copysign(math.inf, a) * math.copysign(1.0, b)
            return number(a / b)
        case _:
            if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
                return math.nan
            return a if math.isinf(b) else number(math.fmod(a, b))


# ------------------------------------------------------------ SWAIG

def render_swaig(template: SwaigTemplate, scope: SwaigScope) -> str:
    """Expand every variable and @-function; missing values become "".

    What the parts insert is capped at `STRING_MAX_LENGTH` characters in all,
    checked before each piece is built (a value too long for what is left is
    refused before a filter or a function expands it)."""
    budget = _Budget()
    return "".join(part if isinstance(part, str) else _render_part(part, scope, budget)
                   for part in template.parts)


def _render_part(part: SwaigVar | SwaigFunction, scope: SwaigScope, budget: _Budget) -> str:
    if isinstance(part, SwaigVar):
        text = _swaig_text(_swaig_value(part, scope))
        budget.check(len(text))  # filters never shorten a text: refuse it unexpanded
        for name in part.filters:
            text = apply_filter(name, text)
        return budget.spend(text)
    inserted = _Budget()  # what the arguments' own parts insert, in all
    arguments = "".join(arg if isinstance(arg, str) else _render_part(arg, scope, inserted)
                        for arg in part.args).strip()
    if part.name in ("echo", "separate"):
        budget.check(len(arguments))  # their output is at least as long
    return budget.spend(_call_swaig(part, arguments, scope))


def _call_swaig(part: SwaigFunction, arguments: str, scope: SwaigScope) -> str:
    match part.name:
        case "strftime_tz":
            return strftime_tz(arguments, scope.current_time())
        case "fmt_ph":
            return fmt_ph(arguments)
        case "expr":
            return number_to_string(arithmetic_value(arguments))
        case "echo":
            return arguments
        case "separate":
            return separate(arguments)
        case "sleep":
            return ""  # the pause itself is the runtime's job; see SwaigFunction


def _swaig_value(var: SwaigVar, scope: SwaigScope) -> JSValue:
    keys = [segment if not isinstance(segment, SwaigVar)
            else _render_part(segment, scope, _Budget())
            for segment in var.segments]
    value = scope.lookup(str(keys[0]))
    rest = keys[1:]
    if value is MISSING and keys[0] == "response" and rest:
        # The SDK writes ${response.x} for the webhook reply's top-level key x.
        value, rest = scope.lookup(str(rest[0])), rest[1:]
    for key in rest:  # a template path selects keys and elements, never characters
        value = get_member(value, key) if not isinstance(value, str) else MISSING
    return value


def _swaig_text(value: JSValue) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, list | dict):
        return str(json_stringify(value))
    return to_string(value)


def arithmetic_value(text: str) -> float | int:
    """The value of `@{expr ...}`: numbers, + - * / % and parentheses only."""
    try:
        expr = parse_arithmetic(text)
    except ExpressionSyntaxError as error:
        raise ExpressionRuntimeError(f"@{{expr}}: {error.message}") from None
    value = _evaluate(expr, MappingScope())
    assert isinstance(value, int | float)
    return value
