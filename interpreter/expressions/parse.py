"""Parse both expression languages into the trees of `ast.py`.

The LALR parsers are built on first use and kept for the life of the process.
A failed parse becomes an `ExpressionSyntaxError` positioned within the text;
when the failure is JavaScript that is valid but outside the subset (an arrow
function, `new`, a regular expression literal...), its kind is "unsupported"
and the message names the construct. Unknown methods and functions parse as
calls and are rejected by the transformer, which can name them exactly.
"""

from __future__ import annotations

import functools
import math
import re
from importlib import resources
from itertools import islice
from typing import Literal, cast

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from interpreter.expressions.ast import (
    MISSING,
    ArrayLiteral,
    Binary,
    BinaryOp,
    Call,
    Conditional,
    Constant,
    Expr,
    ExpressionSyntaxError,
    Index,
    Logical,
    LogicalOp,
    Lookup,
    Member,
    MethodCall,
    ObjectLiteral,
    SwaigFilter,
    SwaigFunction,
    SwaigFunctionName,
    SwaigTemplate,
    SwaigVar,
    SwmlTemplate,
    Unary,
    UnaryOp,
)
from interpreter.expressions.functions import (
    GLOBAL_FUNCTIONS,
    METHODS,
    NAMESPACE_FUNCTIONS,
    PHONE_FORMATS,
    SWAIG_FILTERS,
    SWAIG_FUNCTIONS,
    number,
    number_to_string,
    phone_format,
)
from interpreter.limits import (
    EXPRESSION_MAX_DEPTH,
    EXPRESSION_MAX_LENGTH,
    TEMPLATE_MAX_EXPRESSION_TEXT,
    TEMPLATE_MAX_PARTS,
)

# The platform's limit on one expression (SignalWire's 1024 characters).
MAX_LENGTH = EXPRESSION_MAX_LENGTH
# Deep enough for any hand-written expression; shallow enough that the
# recursive transformer and evaluator stay far from Python's stack limit.
MAX_DEPTH = EXPRESSION_MAX_DEPTH
_OUTSIDE = "is outside callkernel's supported JavaScript subset (see docs/expressions.md)"

Language = Literal["swml", "swaig"]


@functools.cache
def _parser(language: Language) -> Lark:
    grammar = (resources.files("interpreter.expressions") / f"{language}.lark").read_text(
        encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False,
                start=["template", "js"] if language == "swml" else ["template"])


def parse_js(text: str) -> Expr:
    """A bare expression, as written in `cond.when` and `goto.when`."""
    if len(text) > MAX_LENGTH:
        raise _too_long(len(text), 0, 1)
    return cast(Expr, _run(_JS, _parse("swml", text, "js")))


def parse_swml_template(text: str) -> SwmlTemplate:
    """A Calling-SWML string, split into text and `${...}`/`%{...}` expressions."""
    _check_size(text, "swml")
    plain = _plain_swml(text)
    if plain is not None:
        return plain
    return cast(SwmlTemplate, _run(_JS, _parse("swml", text, "template")))


def parse_swaig_template(text: str) -> SwaigTemplate:
    """A SWAIG template string (prompts, data_map, tool replies inside `ai`)."""
    _check_size(text, "swaig")
    plain = _plain_swaig(text)
    if plain is not None:
        return plain
    return cast(SwaigTemplate, _run(_SWAIG, _parse("swaig", text, "template")))


_OPENERS = {"swml": re.compile(r"[$%]\{"), "swaig": re.compile(r"[$%@]\{")}
# Inside a Calling-SWML part, braces in JavaScript strings do not count.
_PART_TOKENS = {"swml": re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|[{}]"""),
                "swaig": re.compile(r"[{}]")}


def _check_size(text: str, language: Language) -> None:
    """Refuse a template over the limits before any parser sees it: more than
    TEMPLATE_MAX_PARTS parts, one part longer than MAX_LENGTH, or parts
    holding more than TEMPLATE_MAX_EXPRESSION_TEXT characters in all. Linear:
    each part is scanned once, and never past the longest it may be."""
    count = text.count("${") + text.count("%{") + (
        text.count("@{") if language == "swaig" else 0)
    if not count:
        return
    openers = _OPENERS[language]
    if count > TEMPLATE_MAX_PARTS:
        first_over = next(islice(openers.finditer(text), TEMPLATE_MAX_PARTS, None))
        raise ExpressionSyntaxError(
            f"this string holds {count:,} expressions; the limit is {TEMPLATE_MAX_PARTS:,}",
            *_position(text, first_over.start()))
    if len(text) <= MAX_LENGTH + 3:
        return  # no part can be too long, nor all of them together
    tokens = _PART_TOKENS[language]
    position = total = 0
    while (opener := openers.search(text, position)) is not None:
        start = opener.start()
        end = _part_end(text, start, tokens)
        if end is None:
            if start + MAX_LENGTH + 3 >= len(text):
                return  # not closed: the parser says so
            raise ExpressionSyntaxError(
                f"expression is more than {MAX_LENGTH} characters long; the limit is "
                f"{MAX_LENGTH}",
                *_position(text, start))
        total += end - start - 3
        if end - start - 3 > MAX_LENGTH:
            raise _too_long(end - start - 3, *_position(text, start))
        if total > TEMPLATE_MAX_EXPRESSION_TEXT:
            raise ExpressionSyntaxError(
                f"the expressions in this string hold more than "
                f"{TEMPLATE_MAX_EXPRESSION_TEXT:,} characters in all (the limit)",
                *_position(text, start))
        position = end


def _part_end(text: str, start: int, tokens: re.Pattern[str]) -> int | None:
    """The offset just past the `}` that closes the part opened at `start`, if
    it comes within MAX_LENGTH characters."""
    depth = 1
    for token in tokens.finditer(text, start + 2, min(start + MAX_LENGTH + 4, len(text))):
        if token.group() == "{":
            depth += 1
        elif token.group() == "}":
            depth -= 1
            if depth == 0:
                return token.end()
    return None


class _Lines:
    """(line offset, column) of increasing offsets in one text, counted
    incrementally so that positioning every part of a long text stays linear."""

    __slots__ = ("line", "line_start", "offset", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = self.line = self.line_start = 0

    def at(self, offset: int) -> tuple[int, int]:
        if offset < self.offset:
            return _position(self.text, offset)
        newlines = self.text.count("\n", self.offset, offset)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", self.offset, offset) + 1
        self.offset = offset
        return self.line, offset - self.line_start + 1


# Most templates hold only plain paths (`${call.from}`, `${args.city}`). Those
# are split with a regular expression instead of the parser, which is what
# keeps linting a large flow fast; anything else goes to the grammar, and a
# test checks that both routes build the same tree.
_PLAIN_SWML = re.compile(
    r"[$%]\{([A-Za-z_$][A-Za-z0-9_$]*)((?:\.[A-Za-z_$][A-Za-z0-9_$]*|\[[0-9]{1,9}\]){0,32})\}")
_PLAIN_SWAIG = re.compile(
    r"[$%]\{((?:[A-Za-z_][A-Za-z0-9_]*:){0,8})([\w\-]+)((?:\.[\w\-]+|\[[0-9]+\]){0,32})\}")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[([0-9]+)\]")
_NOT_PLAIN_ROOTS = frozenset(
    {"undefined", "NaN", "Infinity", "Math", "JSON", "true", "false", "null"})


def _plain_parts(text: str, pattern: re.Pattern[str], openers: tuple[str, ...]) -> \
        list[str | re.Match[str]] | None:
    """Text and matches of `pattern`, or None if any other opener is left."""
    parts: list[str | re.Match[str]] = []
    last = 0
    for match in pattern.finditer(text):
        parts += [text[last:match.start()], match]
        last = match.end()
    parts.append(text[last:])
    if any(opener in part for part in parts if isinstance(part, str) for opener in openers):
        return None
    return [part for part in parts if part != ""]


def _path(path: str) -> tuple[str | int, ...]:
    return tuple(int(index) if index else name for name, index in _PATH_PART.findall(path))


def _plain_swml(text: str) -> SwmlTemplate | None:
    parts = _plain_parts(text, _PLAIN_SWML, ("${", "%{"))
    if parts is None:
        return None
    built: list[str | Expr] = []
    lines = _Lines(text)
    for part in parts:
        if isinstance(part, str):
            built.append(part)
        elif part.group(1) in _RESERVED or part.group(1) in _NOT_PLAIN_ROOTS:
            return None
        else:
            built.append(Lookup(part.group(1), _path(part.group(2)),
                                *lines.at(part.start() + 2)))
    return SwmlTemplate(tuple(built))


def _plain_swaig(text: str) -> SwaigTemplate | None:
    parts = _plain_parts(text, _PLAIN_SWAIG, ("${", "%{", "@{"))
    if parts is None:
        return None
    built: list[str | SwaigVar | SwaigFunction] = []
    lines = _Lines(text)
    for part in parts:
        if isinstance(part, str):
            built.append(part)
            continue
        filters, unknown = _filter_chain(part.group(1).split(":")[:-1])
        if unknown is not None:
            return None
        built.append(SwaigVar(filters, (part.group(2), *_path(part.group(3))),
                              *lines.at(part.start())))
    return SwaigTemplate(tuple(built))


def parse_arithmetic(text: str) -> Expr:
    """The argument of `@{expr ...}`: numbers, + - * / % and parentheses."""
    expr = parse_js(text)
    pending = [expr]
    while pending:
        match pending.pop():
            case Constant(value) if isinstance(value, int | float) \
                    and not isinstance(value, bool):
                pass
            case Unary("-" | "+", operand):
                pending.append(operand)
            case Binary("+" | "-" | "*" | "/" | "%", left, right):
                pending += [left, right]
            case _:
                raise ExpressionSyntaxError(
                    "@{expr} takes numbers, + - * / % and parentheses only")
    return expr


def _parse(language: Language, text: str, start: str) -> Tree[Token]:
    try:
        tree = _parser(language).parse(text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, language, start) from None
    pending = [(tree, 0)]
    while pending:  # iterative, so that deep input cannot overflow the stack here
        node, depth = pending.pop()
        if node.data == "embed" and node.meta.end_pos - node.meta.start_pos - 3 > MAX_LENGTH:
            raise _too_long(node.meta.end_pos - node.meta.start_pos - 3,
                            *_position(text, node.meta.start_pos))
        if depth > MAX_DEPTH + 1:
            raise ExpressionSyntaxError(
                f"nesting deeper than {MAX_DEPTH} levels is not supported",
                *_position(text, getattr(node.meta, "start_pos", 0)),
                kind="unsupported" if language == "swml" else "syntax")
        pending += [(child, depth + 1) for child in node.children if isinstance(child, Tree)]
    return tree


def _run(transformer: Transformer[Token, object], tree: Tree[Token]) -> object:
    try:
        return transformer.transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, ExpressionSyntaxError):
            raise error.orig_exc from None
        raise


def _position(text: str, offset: int) -> tuple[int, int]:
    """(0-based line offset, 1-based column) of a character offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset), offset - line_start + 1


def _at(token: Token) -> tuple[int, int]:
    return (token.line or 1) - 1, token.column or 1


def _too_long(length: int, line: int, col: int) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(
        f"expression is {length} characters long; the limit is {MAX_LENGTH}", line, col)


def _unsupported(what: str, line: int, col: int) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(f"{what} {_OUTSIDE}", line, col, kind="unsupported")


# ------------------------------------------------------------ syntax errors

_FRIENDLY = {"RBRACE": "`}`", "RPAR": "`)`", "RSQB": "`]`", "COLON": "`:`"}


def _syntax_error(error: UnexpectedInput, text: str, language: Language, start: str) -> \
        ExpressionSyntaxError:
    offset, found = _where(error, text)
    opener = _innermost_opener(error)
    # In a template, only the part that failed is JavaScript; the text around
    # it may hold anything, so it is not searched for constructs.
    if language == "swml" and (opener is not None or start == "js"):
        construct = _find_unsupported(text, opener.end_pos or 0 if opener is not None else 0)
        if construct is not None:
            return _unsupported(construct[1], *_position(text, construct[0]))
    if found is None:
        if opener is not None:
            return ExpressionSyntaxError(f"`{opener.value}` is not closed: missing `}}`",
                                         *_at(opener))
        return ExpressionSyntaxError("unexpected end of expression", *_position(text, offset))
    if found in ("'", '"'):
        return ExpressionSyntaxError("string is not closed", *_position(text, offset))
    expected = getattr(error, "expected", None) or getattr(error, "allowed", None) or set()
    hints = sorted(_FRIENDLY[name] for name in expected if name in _FRIENDLY)
    hint = f", expected {' or '.join(hints)}" if hints and len(expected) <= 4 else ""
    if start == "js" and ("${" in text or "%{" in text):
        hint += "; a condition is a bare expression: `vars.x == 1`, not `${vars.x} == 1`"
    return ExpressionSyntaxError(f"unexpected {found!r}{hint}", *_position(text, offset))


def _where(error: UnexpectedInput, text: str) -> tuple[int, str | None]:
    """Where the parse failed, and what was found there (None: the end)."""
    if isinstance(error, UnexpectedCharacters):
        offset = error.pos_in_stream or 0
        return offset, text[offset]
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        token = error.token
        shown = token.value[:1] if token.type.endswith("TEXT") else token.value[:24]
        return token.start_pos or 0, shown
    return len(text), None


def _innermost_opener(error: UnexpectedInput) -> Token | None:
    """The `${`, `%{` or `@{` still open when the parse failed, if any."""
    stack = getattr(getattr(error, "state", None), "value_stack", None) or []
    closed = 0  # a part whose `}` was shifted but not yet reduced is not open
    for value in reversed(stack):
        if isinstance(value, Token) and value.type == "RBRACE":
            closed += 1
        elif isinstance(value, Token) and value.type == "LBRACE":
            closed = max(closed - 1, 0)
        elif isinstance(value, Token) and value.type in ("OPEN", "AT_OPEN"):
            if not closed:
                return value
            closed -= 1
    return None


_SCAN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)
  | (?P<number>\.?[0-9][\w.]*)
  | (?P<name>[A-Za-z_$][\w$]*)
  | (?P<punct>=>|\.\.\.|\?\.|===|!==|\*\*=?|>>>=?|<<=?|>>=?|&&=?|\|\|=?|\?\?=?
              |[-+*/%&|^!=<>]=|\+\+|--|.)
""", re.VERBOSE | re.DOTALL)
_KEYWORDS = {
    **dict.fromkeys(("function", "async"), "a function definition"),
    "class": "a class definition",
    **{word: f"the `{word}` operator" for word in ("new", "in", "instanceof", "delete", "void")},
    **dict.fromkeys(("var", "let", "const"), "a variable declaration"),
    **{word: f"the `{word}` statement" for word in (
        "if", "else", "for", "while", "do", "switch", "case", "return", "throw", "try",
        "catch", "finally", "break", "continue", "with", "debugger", "import", "export")},
    **{word: f"`{word}`" for word in ("this", "super", "yield", "await", "arguments")},
}
_OPERATORS = {
    "=>": "an arrow function", "`": "a template literal", "...": "spread syntax (`...`)",
    ";": "more than one statement (`;`)", "++": "the `++` operator",
    "--": "the `--` operator", "**": "the `**` operator",
    **{op: f"the bitwise operator `{op}`" for op in ("&", "|", "^", "~", "<<", ">>", ">>>")},
}
_COMPARISONS = frozenset({"==", "!=", "===", "!==", "<=", ">="})


def _find_unsupported(text: str, start: int) -> tuple[int, str] | None:
    """The first construct from `start` to the end of the expression that is
    JavaScript but not ours.

    Runs only after a parse failed, to tell "unsupported" from "syntax"; it
    reads past the failure point because `(a, b) => a` fails before its `=>`."""
    previous: str | None = None
    depth = 0
    for match in _SCAN.finditer(text, start):
        kind, value = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "name" and value in _KEYWORDS and previous not in (".", "?."):
            return match.start(), _KEYWORDS[value]
        if kind == "punct":
            depth += {"{": 1, "}": -1}.get(value, 0)
            if depth < 0:
                break  # the `}` that closes a ${...}: the rest is text
            if value in _OPERATORS:
                return match.start(), _OPERATORS[value]
            if value.endswith("=") and value not in _COMPARISONS:
                return match.start(), f"assignment (`{value}`)"
            if value == "/" and (previous is None or previous not in (
                    "name", "number", "string", ")", "]", "}")):
                return match.start(), "a regular expression literal"
        previous = value if kind == "punct" else kind
    return None


# ------------------------------------------------------------ Calling SWML

_RESERVED = frozenset(_KEYWORDS) | {"typeof"}
_ESCAPE = re.compile(
    r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|0(?![0-9])|\r\n|[\s\S])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
                   "0": "\0", "\n": "", "\r": "", "\r\n": "", "\u2028": "", "\u2029": ""}


def _decode_string(token: Token) -> str:
    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[escape]
        if escape[0] in "ux" and len(escape) > 1:
            code = int(escape.strip("ux{}"), 16)
            if code > 0x10FFFF:
                raise ExpressionSyntaxError("invalid escape: code point too large", *_at(token))
            return chr(code)
        if escape in ("u", "x") or escape.isdigit():
            raise ExpressionSyntaxError(f"invalid escape \\{escape} in string", *_at(token))
        return escape

    decoded = _ESCAPE.sub(replace, token.value[1:-1])
    if any("\ud800" <= character <= "\udfff" for character in decoded):
        # \uD83D\uDE00 escapes a pair of UTF-16 halves; join them into one character.
        decoded = decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return decoded


class _Namespace:
    """`Math` or `JSON` before its member is known; never an `Expr`."""

    __slots__ = ("name", "token")

    def __init__(self, name: str, token: Token) -> None:
        self.name, self.token = name, token


def _expr(value: Expr | _Namespace) -> Expr:
    if isinstance(value, _Namespace):
        raise _unsupported(f"`{value.name}` on its own", *_at(value.token))
    return value


@v_args(inline=True)
class _JsTransformer(Transformer[Token, object]):
    """Lark tree -> `Expr`, folding plain paths into `Lookup` nodes."""

    def template(self, *parts: Token | Expr) -> SwmlTemplate:
        return SwmlTemplate(tuple(str(part) if isinstance(part, Token) else part
                                  for part in parts))

    def embed(self, _opener: Token, expr: Expr | _Namespace) -> Expr:
        return _expr(expr)

    def js(self, expr: Expr | _Namespace) -> Expr:
        return _expr(expr)

    def ternary(self, test: Expr, then: Expr, otherwise: Expr) -> Expr:
        return Conditional(_expr(test), _expr(then), _expr(otherwise))

    def logical(self, left: Expr, op: Token, right: Expr) -> Expr:
        return Logical(cast(LogicalOp, op.value), _expr(left), _expr(right))

    def binary(self, left: Expr, op: Token, right: Expr) -> Expr:
        return Binary(cast(BinaryOp, op.value), _expr(left), _expr(right))

    def unary(self, op: Token, operand: Expr) -> Expr:
        return Unary(cast(UnaryOp, op.value), _expr(operand))

    def update(self, *children: Token | Expr) -> Expr:
        op = next(child for child in children if isinstance(child, Token))
        raise _unsupported(f"the `{op.value}` operator", *_at(op))

    def member(self, target: Expr | _Namespace, _dot: Token, name: Token) -> Expr:
        if isinstance(target, _Namespace):
            raise _unsupported(f"`{target.name}.{name}`", *_at(target.token))
        if isinstance(target, Lookup):
            return Lookup(target.root, (*target.path, str(name)), target.line, target.col)
        return Member(target, str(name))

    def method_call(self, target: Expr | _Namespace, _dot: Token, name: Token,
                    args: tuple[Expr, ...]) -> Expr:
        if isinstance(target, _Namespace):
            if name in NAMESPACE_FUNCTIONS[target.name]:
                return Call(f"{target.name}.{name}", args)
            raise _unsupported(f"`{target.name}.{name}()`", *_at(name))
        if name not in METHODS:
            raise _unsupported(f"the method .{name}()", *_at(name))
        return MethodCall(target, str(name), args)

    def index(self, target: Expr | _Namespace, *rest: Token | Expr) -> Expr:
        key, target = cast(Expr, rest[-1]), _expr(target)
        if isinstance(target, Lookup) and isinstance(key, Constant):
            segment = key.value
            if isinstance(segment, str) or (isinstance(segment, int) and not isinstance(
                    segment, bool) and segment >= 0):
                return Lookup(target.root, (*target.path, segment), target.line, target.col)
        return Index(target, _expr(key))

    @v_args(meta=True)
    def call(self, meta: Meta, children: list[object]) -> Expr:
        callee = _expr(cast("Expr | _Namespace", children[0]))
        args = cast(tuple[Expr, ...], children[1])
        if isinstance(callee, Lookup) and not callee.path:
            if callee.root in GLOBAL_FUNCTIONS:
                return Call(callee.root, args)
            raise _unsupported(f"calling {callee.root}()", callee.line, callee.col)
        raise _unsupported("calling a computed value", meta.line - 1, meta.column)

    def arguments(self, *args: Expr) -> tuple[Expr, ...]:
        return tuple(_expr(arg) for arg in args)

    def number(self, token: Token) -> Expr:
        text = token.value
        value = number(int(text, 0)) if text[:2].lower() in ("0x", "0o", "0b") \
            else number(float(text))
        if isinstance(value, float) and math.isinf(value):
            # JavaScript would read it as Infinity: surely not what was written.
            shown = text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"
            raise ExpressionSyntaxError(
                f"number {shown} is out of range: it is not finite as a double "
                "(write Infinity if that is meant)", *_at(token))
        return Constant(value)

    def string(self, token: Token) -> Expr:
        return Constant(_decode_string(token))

    def true(self, _token: Token) -> Expr:
        return Constant(True)

    def false(self, _token: Token) -> Expr:
        return Constant(False)

    def null(self, _token: Token) -> Expr:
        return Constant(None)

    def name(self, token: Token) -> Expr | _Namespace:
        match token.value:
            case "undefined":
                return Constant(MISSING)
            case "NaN":
                return Constant(math.nan)
            case "Infinity":
                return Constant(math.inf)
            case "Math" | "JSON":
                return _Namespace(token.value, token)
        if token.value in _RESERVED:
            raise _unsupported(_KEYWORDS.get(token.value, f"`{token.value}`"), *_at(token))
        return Lookup(token.value, (), *_at(token))

    def array(self, *items: Expr) -> Expr:
        return ArrayLiteral(tuple(_expr(item) for item in items))

    def object(self, *entries: tuple[str, Expr]) -> Expr:
        return ObjectLiteral(entries)

    def property(self, key: Token, value: Expr) -> tuple[str, Expr]:
        if key.type == "STRING":
            return _decode_string(key), _expr(value)
        if key.type == "NUMBER":
            constant = self.number(key)
            assert isinstance(constant, Constant) and isinstance(constant.value, int | float)
            return number_to_string(constant.value), _expr(value)
        return str(key), _expr(value)

    def shorthand_property(self, key: Token) -> tuple[str, Expr]:
        return str(key), _expr(self.name(key))


_JS = _JsTransformer()


# ------------------------------------------------------------ SWAIG

_PREFIXES = ", ".join(f"{name}:" for name in SWAIG_FILTERS)


@v_args(inline=True)
class _SwaigTransformer(Transformer[Token, object]):
    def template(self, *parts: Token | SwaigVar | SwaigFunction) -> SwaigTemplate:
        return SwaigTemplate(tuple(str(part) if isinstance(part, Token) else part
                                   for part in parts))

    def var(self, opener: Token, *rest: Token | SwaigVar) -> SwaigVar:
        prefixes = [part for part in rest if isinstance(part, Token) and part.type == "PREFIX"]
        segments = tuple(
            part if isinstance(part, SwaigVar) else int(part) if part.type == "INDEX"
            else str(part)
            for part in rest if not (isinstance(part, Token) and part.type == "PREFIX"))
        return SwaigVar(_filters(prefixes), segments, *_at(opener))

    path_var = var
    argument_var = var

    def function(self, opener: Token, name: Token, *args: Token | SwaigVar) -> SwaigFunction:
        if name.value not in SWAIG_FUNCTIONS:
            raise ExpressionSyntaxError(
                f"unknown function @{{{name.value}}}; supported: "
                + ", ".join(SWAIG_FUNCTIONS), *_at(name))
        parts = tuple(str(arg) if isinstance(arg, Token) else arg for arg in args)
        function = SwaigFunction(cast(SwaigFunctionName, name.value), parts, *_at(opener))
        if all(isinstance(part, str) for part in parts):
            _check_literal_function(function, "".join(cast(tuple[str, ...], parts)).strip())
        return function


def _filters(prefixes: list[Token]) -> tuple[SwaigFilter, ...]:
    filters, unknown = _filter_chain([token.value[:-1] for token in prefixes])
    if unknown is not None:
        raise ExpressionSyntaxError(
            f"unknown prefix function `{prefixes[unknown].value}`; supported: {_PREFIXES}",
            *_at(prefixes[unknown]))
    return filters


def _filter_chain(words: list[str]) -> tuple[tuple[SwaigFilter, ...], int | None]:
    """The filters that prefix words name, and the index of the first unknown word."""
    found: list[SwaigFilter] = []
    position = 0
    while position < len(words):
        word = words[position]
        if word in ("lc", "uc"):
            found.append(cast(SwaigFilter, word))
        elif word == "enc":
            following = words[position + 1] if position + 1 < len(words) else None
            if following in ("url", "html"):
                found.append(cast(SwaigFilter, f"enc:{following}"))
                position += 1
            else:
                found.append("enc:url")  # the SDK's weather skill writes `enc:` alone
        else:
            return tuple(found), position
        position += 1
    return tuple(found), None


def _check_literal_function(function: SwaigFunction, arguments: str) -> None:
    """Catch at lint time what would fail at run time, when nothing is dynamic."""
    where = (function.line, function.col)
    match function.name:
        case "expr":
            try:
                parse_arithmetic(arguments)
            except ExpressionSyntaxError as error:
                raise ExpressionSyntaxError(f"@{{expr}}: {error.message}", *where) from None
        case "fmt_ph":
            if phone_format(arguments.partition(" ")[0]) is None:
                raise ExpressionSyntaxError(
                    f"@{{fmt_ph}} format must be one of {', '.join(PHONE_FORMATS)}"
                    " (optionally with :sep:<character>)", *where)
        case "strftime_tz":
            if len(arguments.split(None, 1)) < 2:
                raise ExpressionSyntaxError("@{strftime_tz} needs a time zone and a format",
                                            *where)
        case "sleep":
            if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", arguments):
                raise ExpressionSyntaxError("@{sleep} takes a number of seconds", *where)


_SWAIG = _SwaigTransformer()
