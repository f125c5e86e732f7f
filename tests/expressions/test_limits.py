"""Expressions against hostile input: sizes checked before the work, deep values
rendered without recursion, templates refused before the parser sees them."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

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

BIG = "y" * STRING_MAX_LENGTH


def _deep(levels: int) -> JSONValue:
    value: JSONValue = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def _deep_map(levels: int) -> JSONValue:
    value: JSONValue = 1
    for _ in range(levels):
        value = {"a": value}
    return value


SCOPE = MappingScope(vars={"big": BIG, "deep": _deep(10_000), "deep_map": _deep_map(10_000),
                           "huge": "z" * (4 * STRING_MAX_LENGTH), "items": list(range(60_000))})


def _peak(action: Callable[[], Any]) -> tuple[BaseException | None, float, int]:
    """What `action` raised, how long it took and its peak traced memory."""
    tracemalloc.start()
    started = time.perf_counter()
    raised: BaseException | None = None
    try:
        action()
    except Exception as error:
        raised = error
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return raised, elapsed, peak


@pytest.mark.parametrize("expression", [
    # Each of these built gigabytes before checking the cap.
    "'x'.padEnd(65536).replaceAll('', vars.big)",
    "'x'.padEnd(65536).split('').join(vars.big)",
    "''.padEnd(60000, 'x').replaceAll('x', '$`')",
    "''.padEnd(60000, 'x').replace('x', '$\\'$\\'')",
    "vars.big.concat(vars.big, vars.big)",
    "vars.big + vars.big",
    "[vars.big, vars.big, vars.big].join()",
    "String([vars.big, [vars.big, vars.big]])",
    "JSON.stringify([vars.big, vars.big])",
    "vars.huge.toUpperCase()",
    "vars.items.concat(vars.items)",
    "vars.huge.split('')",
])
def test_strings_and_arrays_are_refused_before_they_are_built(expression: str) -> None:
    raised, elapsed, peak = _peak(lambda: evaluate_js(parse_js(expression), SCOPE))
    assert isinstance(raised, ExpressionRuntimeError), raised
    assert "the limit is" in str(raised)
    assert peak < 8 * STRING_MAX_LENGTH * 4, f"{peak:,} bytes"  # a few results' worth
    assert elapsed < 2.0


@pytest.mark.parametrize(("expression", "expected"), [
    ("'abc'.replaceAll('', '-')", "-a-b-c-"),
    ("'abc'.replace('', '-')", "-abc"),
    ("'a.b.a'.replaceAll('a', '[$&$$]')", "[a$].b.[a$]"),
    ("'abc'.replace('b', \"$`|$'\")", "aa|cc"),
    ("'a,b,c'.split(',', 2)", ["a", "b"]),
    ("'abc'.split('', 2)", ["a", "b"]),
    ("'abc'.padEnd(8, 'xyz')", "abcxyzxy"),
    ("'abc'.padStart(5, 'xyz')", "xyabc"),
])
def test_the_checked_string_functions_still_behave_like_javascript(
        expression: str, expected: JSONValue) -> None:
    assert evaluate_js(parse_js(expression), SCOPE) == expected


def test_a_deeply_nested_value_renders_without_recursion() -> None:
    # A value nested 10,000 deep (a webhook reply, JSON.parse) raised RecursionError.
    text = evaluate_js(parse_js("JSON.stringify(vars.deep)"), SCOPE)
    assert isinstance(text, str) and text.startswith("[[[[") and '"bottom"' in text
    assert evaluate_js(parse_js("String(vars.deep)"), SCOPE) == "bottom"
    assert render_swml(parse_swml_template("at ${vars.deep}"), SCOPE) == "at bottom"
    swaig = render_swaig(parse_swaig_template("is ${deep_map}"),
                         SwaigScope({"deep_map": _deep_map(10_000)}))
    assert swaig.startswith('is {"a":{"a":')


def test_json_parse_is_bounded() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    for text, message in [(deep, "deeper than 200"), ("NaN", "not JSON"),
                          ("[1e999]", "out of range"), ("{bad", "not JSON")]:
        with pytest.raises(ExpressionRuntimeError, match=message):
            evaluate_js(parse_js("JSON.parse(vars.t)"), MappingScope(vars={"t": text}))
    parsed = evaluate_js(parse_js("JSON.parse(vars.t)"),
                         MappingScope(vars={"t": '{"a": [2.0, 12345678901234567890]}'}))
    assert parsed == {"a": [2, 12345678901234567890.0]}  # numbers as JavaScript holds them


def test_what_a_template_inserts_is_capped_not_the_document_text() -> None:
    long_prompt = "Policy. " * 20_000  # 160 KB of the document's own text
    assert render_swaig(parse_swaig_template(long_prompt + "${name}"),
                        SwaigScope({"name": "Ann"})).endswith("Ann")
    assert render_swml(parse_swml_template(long_prompt + "${vars.x}"),
                       MappingScope(vars={"x": 1})).endswith("1")
    with pytest.raises(ExpressionRuntimeError, match="the limit is 65,536"):
        render_swaig(parse_swaig_template("${a}${a}"), SwaigScope({"a": BIG}))
    with pytest.raises(ExpressionRuntimeError, match="the limit is 65,536"):
        render_swml(parse_swml_template("${vars.big} and ${vars.big}"), SCOPE)


def test_swaig_filters_and_functions_are_refused_before_they_expand() -> None:
    raised, _, peak = _peak(lambda: render_swaig(
        parse_swaig_template("${enc:html:a}"), SwaigScope({"a": "&" * 1_000_000})))
    assert isinstance(raised, ExpressionRuntimeError)
    assert peak < 2_000_000  # the 6 MB escaped text was never built
    with pytest.raises(ExpressionRuntimeError, match="the limit"):
        render_swaig(parse_swaig_template("@{separate ${a}${a}}"), SwaigScope({"a": BIG}))
    assert render_swaig(parse_swaig_template("@{separate ${a}}"), SwaigScope({"a": "12"})) \
        == "1 2"


@pytest.mark.parametrize(("text", "message", "col"), [
    # A 1 MB expression was refused only after a 51 s parse.
    ("say:${" + "1+" * 500_000 + "1}", "more than 1024 characters long", 5),
    ("say:${" + "1+" * 500_000, "more than 1024 characters long", 5),
    # 200,000 references made lint quadratic.
    ("say:" + "${a}" * 200_000, "holds 200,000 expressions; the limit is 1,000", 4005),
    ("".join("${[" + ",".join(["1"] * 500) + "]}" for _ in range(100)),
     "more than 32,768 characters in all", 32 * 1004 + 1),
])
@pytest.mark.parametrize("parse", [parse_swml_template, parse_swaig_template])
def test_oversized_templates_are_refused_before_parsing(
        parse: Callable[[str], object], text: str, message: str, col: int) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(text)
    assert time.perf_counter() - started < 0.5
    assert message in caught.value.message
    assert (caught.value.line, caught.value.col) == (0, col)


def test_a_thousand_short_parts_and_long_text_parse() -> None:
    text = "Note: " * 5_000 + "".join(f"${{vars.a{i}}} " for i in range(1000))
    assert len(parse_swml_template(text).parts) == 2001
    assert len(parse_swaig_template(text).parts) == 2001


def test_positions_of_many_parts_are_found_in_linear_time() -> None:
    text = "line\n" * 10_000 + "${a}" * 1000
    started = time.perf_counter()
    template = parse_swml_template(text)
    assert time.perf_counter() - started < 0.5
    last = template.parts[-1]
    assert (last.line, last.col) == (10_000, 3 + 999 * 4)  # type: ignore[union-attr]


@pytest.mark.parametrize(("expression", "col"), [
    ("0x" + "f" * 1000, 1), ("0o" + "7" * 400, 1), ("1e999", 1), ("-0x" + "f" * 500, 2),
    ("{a: 1, 1e400: 2}", 8), ("'a'.padEnd(0x" + "f" * 300 + ")", 12),
])
def test_number_literals_that_are_not_finite_are_refused_where_they_are(
        expression: str, col: int) -> None:
    with pytest.raises(ExpressionSyntaxError, match="out of range") as caught:
        parse_js(expression)
    assert (caught.value.line, caught.value.col) == (0, col)
    with pytest.raises(ExpressionSyntaxError, match="out of range"):
        parse_swml_template("say:${" + expression + "}")
    assert evaluate_js(parse_js("Infinity"), SCOPE) == float("inf")
    assert evaluate_js(parse_js("0x" + "f" * 200), SCOPE) == float(int("f" * 200, 16))


@pytest.mark.parametrize("expression", [
    "'abc'.charAt(0x" + "f" * 200 + ")", "[1].indexOf(1, -0x" + "f" * 200 + ")",
    "parseInt('f'.padEnd(1000, 'f'), 16)", "Number('0x' + 'f'.padEnd(5000, 'f'))",
    "(0x" + "f" * 200 + ").toFixed(2)", "'a'.padEnd(0x" + "f" * 200 + ")",
])
def test_huge_numbers_evaluate_or_fail_cleanly(expression: str) -> None:
    try:
        value = evaluate_js(parse_js(expression), SCOPE)
    except ExpressionRuntimeError:
        return
    assert value is None or isinstance(value, str | int | float | bool | list | dict)
