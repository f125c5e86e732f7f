"""Fuzzing both expression languages with hostile text and values: parsing fails
only with ExpressionSyntaxError, evaluation and rendering only with
ExpressionRuntimeError, and whatever comes back is bounded (no string past the
limit, nothing that is not JSON), however large or deep the values in scope.
"""

from __future__ import annotations

import contextlib
import math
import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.expressions import (
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    JSONValue,
    MappingScope,
    SwaigScope,
    evaluate_js,
    parse_js,
    parse_swaig_template,
    parse_swml_template,
    render_swaig,
    render_swml,
)
from interpreter.limits import STRING_MAX_LENGTH

# More examples for a long run: CALLKERNEL_FUZZ_EXAMPLES=5000 pytest tests/fuzz
EXAMPLES = int(os.environ.get("CALLKERNEL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _deep(levels: int, leaf: JSONValue) -> JSONValue:
    value = leaf
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


# Values as hostile as a webhook reply can make them: long, deep, huge numbers.
hostile_values: st.SearchStrategy[JSONValue] = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "0x" + "f" * 300, "1e999", "-0", "&<>\"'", "\ud800", "$&$`$'$$"]),
    st.integers(1, 8).map(lambda k: "x" * (k * STRING_MAX_LENGTH // 4)),
    st.integers(100, 5000).map(lambda depth: _deep(depth, "leaf")),
    st.integers(1, 70_000).map(lambda n: list(range(n))),
)
values = st.recursive(hostile_values, lambda children: st.lists(children, max_size=3)
                      | st.dictionaries(st.sampled_from(["a", "b", "0"]), children, max_size=3),
                      max_leaves=6)
scopes = st.builds(MappingScope, vars=st.dictionaries(st.sampled_from(["a", "b", "s", "n"]),
                                                      values, max_size=4))

TOKENS = [
    "vars.a", "vars.b", "vars.s", "n", "a", "1", "0", "-1", "2.5", "1e308", "1e999",
    "0x" + "f" * 40, "0b" + "1" * 80, "'x'", "''", "'$&'", "'$`'", "\"$'\"", "65536", "100000",
    "+", "-", "*", "/", "%", "==", "===", "<", "&&", "||", "??", "?", ":", "!", "typeof",
    "(", ")", "[", "]", "{", "}", ",", ".", "?.", ".length", ".toUpperCase()",
    ".toLowerCase()", ".padEnd(", ".padStart(", ".replaceAll(", ".replace(", ".split(",
    ".join(", ".concat(", ".slice(", ".indexOf(", ".includes(", ".charAt(", ".toFixed(",
    ".trim()", "String(", "Number(", "parseInt(", "parseFloat(", "JSON.stringify(",
    "JSON.parse(", "Math.max(", "Math.round(", "isNaN(", "Boolean(",
]
expressions = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=16).map(" ".join)
raw_text = st.text(alphabet=st.sampled_from(list("${}%@()[].,:;'\"`?!=<>+-*/&|^~\\ \nax0_9é")),
                   max_size=80)
SWAIG_TOKENS = ["${", "%{", "@{", "}", "args.q", "a", ".", "[0]", "lc:", "uc:", "enc:url:",
                "enc:html:", "bad:", "expr ", "echo ", "separate ", "fmt_ph ", "sleep ",
                "strftime_tz ", "national ", "UTC %H ", "1 + 2", " ", "text", "\n", "${a}"]
swaig_text = st.lists(st.sampled_from(SWAIG_TOKENS), max_size=20).map("".join)


def _bounded(value: JSONValue) -> None:
    """JSON data (NaN and Infinity are JavaScript numbers), no string past the
    limit. Walked without recursion: a scope value may come back as deep as
    it went in."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            assert all(isinstance(key, str) for key in item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            assert len(item) <= STRING_MAX_LENGTH * 4  # a scope value may pass through
        else:
            assert item is None or isinstance(item, bool | int | float)


@FUZZ
@given(st.one_of(expressions, raw_text))
def test_parsing_any_text_fails_only_with_a_syntax_error(text: str) -> None:
    for parse in (parse_js, parse_swml_template, parse_swaig_template):
        try:
            parse(text)
        except ExpressionSyntaxError as error:
            assert error.line >= 0 and error.col >= 1


@FUZZ
@given(expressions, scopes)
def test_evaluating_against_hostile_values_fails_only_with_a_runtime_error(
        text: str, scope: MappingScope) -> None:
    try:
        expr = parse_js(text)
    except ExpressionSyntaxError:
        return
    with contextlib.suppress(ExpressionRuntimeError):
        _bounded(evaluate_js(expr, scope))


@FUZZ
@given(st.lists(st.one_of(expressions.map(lambda e: "${" + e + "}"), raw_text), max_size=5),
       scopes)
def test_swml_templates_render_bounded_text(parts: list[str], scope: MappingScope) -> None:
    text = "".join(parts)
    try:
        template = parse_swml_template(text)
    except ExpressionSyntaxError:
        return
    try:
        rendered = render_swml(template, scope)
    except ExpressionRuntimeError:
        return
    if isinstance(rendered, str) and len(template.parts) > 1:
        assert len(rendered) <= len(text) + STRING_MAX_LENGTH


@FUZZ
@given(swaig_text, st.dictionaries(st.sampled_from(["args", "a", "q"]), values, max_size=3))
def test_swaig_templates_render_bounded_text(text: str, roots: dict[str, JSONValue]) -> None:
    try:
        template = parse_swaig_template(text)
    except ExpressionSyntaxError:
        return
    scope = SwaigScope(roots, now=datetime(2024, 1, 1, tzinfo=UTC))
    try:
        rendered = render_swaig(template, scope)
    except ExpressionRuntimeError:
        return
    assert len(rendered) <= len(text) + STRING_MAX_LENGTH


@FUZZ
@given(st.integers(1, 1100).map(lambda n: "0x" + "f" * n), st.sampled_from(
    ["{}", "-{}", "{} * 2", "{} % 7", "'a'.padEnd({})", "'abc'.slice({})", "({}).toFixed(2)",
     "String({})", "Math.round({})", "[1, 2].indexOf(2, {})", "'a,b'.split(',', {})"]))
def test_huge_number_literals_evaluate_or_fail_cleanly(literal: str, shape: str) -> None:
    try:
        value = evaluate_js(parse_js(shape.format(literal)), MappingScope())
    except (ExpressionSyntaxError, ExpressionRuntimeError):
        return
    if isinstance(value, float):
        assert math.isnan(value) or isinstance(value, float)
    _bounded(value)
