"""The parsed forms of both expression languages, and their two errors.

Calling SWML (`${...}`/`%{...}` and bare `cond.when`) parses to `Expr` trees
inside a `SwmlTemplate`; SWAIG templates (inside `ai`) parse to a
`SwaigTemplate` of text, variables and @-functions. Nodes are frozen and hold
tuples, so parsed forms can be cached and shared between calls.

Positions (`line`, `col`) are relative to the parsed text: `line` is a 0-based
line offset and `col` a 1-based column, so a caller adds the position of the
YAML scalar the text came from.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from interpreter.errors import CallkernelError

# JSONValue, the one alias for user JSON, is defined once for all of callkernel.
from interpreter.jsontypes import JSONValue as JSONValue


class Missing(enum.Enum):
    """JavaScript's `undefined`: a variable or key that is not there.

    Kept apart from `None` (JSON null) because JavaScript tells them apart
    (`undefined === null` is false, `String(undefined)` is "undefined")."""

    MISSING = "undefined"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING


class ExpressionSyntaxError(CallkernelError):
    """Text that does not parse, or parses to JavaScript outside the subset.

    `kind` is "unsupported" for valid JavaScript that callkernel does not run
    (arrow functions, `new`, `.map()`, ...), "syntax" for everything else."""

    def __init__(self, message: str, line: int = 0, col: int = 1,
                 kind: Literal["syntax", "unsupported"] = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.kind: Literal["syntax", "unsupported"] = kind

    def __repr__(self) -> str:
        return (f"ExpressionSyntaxError({self.message!r}, line={self.line}, col={self.col}, "
                f"kind={self.kind!r})")


class ExpressionRuntimeError(CallkernelError):
    """Evaluation failed: a method called on the wrong type, an unknown time
    zone, a result over the size limit."""


# ------------------------------------------------------------ Calling SWML

UnaryOp: TypeAlias = Literal["!", "-", "+", "typeof"]
BinaryOp: TypeAlias = Literal[
    "+", "-", "*", "/", "%", "==", "!=", "===", "!==", "<", "<=", ">", ">="]
LogicalOp: TypeAlias = Literal["&&", "||", "??"]
PathSegment: TypeAlias = str | int


@dataclass(frozen=True, slots=True)
class Constant:
    """A literal: number, string, true/false, null, undefined, NaN, Infinity."""

    value: JSONValue | Missing


@dataclass(frozen=True, slots=True)
class ArrayLiteral:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectLiteral:
    entries: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """A plain path: `prompt_value`, `call.from`, `vars.a.b[0].c`.

    `root` is a scope (`call`, `params`, `vars`, `envs`) or an unprefixed name;
    `path` holds the static keys and indexes that follow it."""

    root: str
    path: tuple[PathSegment, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Member:
    """`.name` on a computed value, as in `(a + b).length` or `'x'.length`."""

    target: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """`target[index]` with a computed index."""

    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOp
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: BinaryOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logical:
    """`&&`, `||`, `??`: short-circuit, and the result is an operand."""

    op: LogicalOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Conditional:
    test: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class MethodCall:
    """A whitelisted string/array/number method: `prompt_value.includes('1')`."""

    target: Expr
    method: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call:
    """A whitelisted global: `parseInt(x)`, `Math.floor(x)`, `JSON.stringify(x)`."""

    function: str
    args: tuple[Expr, ...]


Expr: TypeAlias = (
    "Constant | ArrayLiteral | ObjectLiteral | Lookup | Member | Index | Unary | Binary"
    " | Logical | Conditional | MethodCall | Call"
)


@dataclass(frozen=True, slots=True)
class SwmlTemplate:
    """A Calling-SWML string: literal text and `${...}` expressions, in order."""

    parts: tuple[str | Expr, ...]


# ------------------------------------------------------------ SWAIG

SwaigFilter: TypeAlias = Literal["lc", "uc", "enc:url", "enc:html"]
SwaigFunctionName: TypeAlias = Literal[
    "strftime_tz", "fmt_ph", "expr", "echo", "separate", "sleep"]


@dataclass(frozen=True, slots=True)
class SwaigVar:
    """`${lc:meta_data.table.${args.key}}`: filters applied left to right to
    the value at `segments`; a segment may itself be a variable."""

    filters: tuple[SwaigFilter, ...]
    segments: tuple[str | int | SwaigVar, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class SwaigFunction:
    """`@{name args}`; `args` is expanded to text before the function runs.

    `sleep` renders as nothing; it stays in the tree so the runtime can pause."""

    name: SwaigFunctionName
    args: tuple[str | SwaigVar, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class SwaigTemplate:
    parts: tuple[str | SwaigVar | SwaigFunction, ...]


# ------------------------------------------------------------ references

@dataclass(frozen=True, slots=True)
class VariableRef:
    """One variable read: its root name and the static path after it."""

    root: str
    path: tuple[PathSegment, ...]
    line: int
    col: int


def references(node: Expr | SwmlTemplate | SwaigTemplate) -> Iterator[VariableRef]:
    """Every variable the node reads, in source order."""
    match node:
        case SwmlTemplate(parts):
            for part in parts:
                if not isinstance(part, str):
                    yield from references(part)
        case SwaigTemplate(pieces):
            for piece in pieces:
                if not isinstance(piece, str):
                    yield from _swaig_references(piece)
        case Lookup(root, path, line, col):
            yield VariableRef(root, path, line, col)
        case _:
            for child in _children(node):
                yield from references(child)


def _children(node: Expr) -> tuple[Expr, ...]:
    match node:
        case ArrayLiteral(items):
            return items
        case ObjectLiteral(entries):
            return tuple(value for _, value in entries)
        case Member(target) | Unary(_, target):
            return (target,)
        case Index(target, index):
            return (target, index)
        case Binary(_, left, right) | Logical(_, left, right):
            return (left, right)
        case Conditional(test, then, otherwise):
            return (test, then, otherwise)
        case MethodCall(target, _, args):
            return (target, *args)
        case Call(_, args):
            return args
        case Constant() | Lookup():
            return ()


def _swaig_references(node: SwaigVar | SwaigFunction) -> Iterator[VariableRef]:
    if isinstance(node, SwaigFunction):
        for arg in node.args:
            if isinstance(arg, SwaigVar):
                yield from _swaig_references(arg)
        return
    root = node.segments[0]
    if isinstance(root, str):
        static: list[PathSegment] = []
        for segment in node.segments[1:]:
            if isinstance(segment, SwaigVar):
                break
            static.append(segment)
        yield VariableRef(root, tuple(static), node.line, node.col)
    for segment in node.segments:
        if isinstance(segment, SwaigVar):
            yield from _swaig_references(segment)
