"""Parsing of both expression languages: trees, positions, and what is rejected."""

from __future__ import annotations

import math

import pytest

import interpreter.expressions as expressions
from interpreter.expressions import (
    MISSING,
    ArrayLiteral,
    Binary,
    Call,
    Conditional,
    Constant,
    ExpressionSyntaxError,
    Index,
    Logical,
    Lookup,
    Member,
    MethodCall,
    ObjectLiteral,
    SwaigFunction,
    SwaigTemplate,
    SwaigVar,
    SwmlTemplate,
    Unary,
    VariableRef,
    parse_js,
    parse_swaig_template,
    parse_swml_template,
    references,
)
from interpreter.expressions.parse import _plain_swaig, _plain_swml


def test_every_public_name_is_exported_once() -> None:
    # The order of __all__ is checked by ruff (RUF022).
    assert len(set(expressions.__all__)) == len(expressions.__all__)
    assert all(hasattr(expressions, name) for name in expressions.__all__)


# ------------------------------------------------------------ Calling SWML trees

@pytest.mark.parametrize(("text", "tree"), [
    ("call.from", Lookup("call", ("from",), 0, 1)),
    ("vars.a.b[0].c", Lookup("vars", ("a", "b", 0, "c"), 0, 1)),
    ("vars['a b']", Lookup("vars", ("a b",), 0, 1)),
    ("prompt_value", Lookup("prompt_value", (), 0, 1)),
    ("  x", Lookup("x", (), 0, 3)),
    ("vars.true.typeof", Lookup("vars", ("true", "typeof"), 0, 1)),  # keywords as keys
    ("a?.b", Lookup("a", ("b",), 0, 1)),
    ("a[i]", Index(Lookup("a", (), 0, 1), Lookup("i", (), 0, 3))),
    ("(a + b).length", Member(Binary("+", Lookup("a", (), 0, 2), Lookup("b", (), 0, 6)),
                              "length")),
    ("'it\\'s'", Constant("it's")),
    ('"tab\\there \\u00e9 \\x41 \\u{1F600}"', Constant("tab\there é A \U0001F600")),
    ("'\\uD83D\\uDE00'", Constant("\U0001F600")),
    ("1.5e3", Constant(1500)),
    ("0x10", Constant(16)),
    (".5", Constant(0.5)),
    ("undefined", Constant(MISSING)),
    ("null", Constant(None)),
    ("true", Constant(True)),
    ("!a", Unary("!", Lookup("a", (), 0, 2))),
    ("typeof a", Unary("typeof", Lookup("a", (), 0, 8))),
    ("-1", Unary("-", Constant(1))),
    ("1 + 2 * 3", Binary("+", Constant(1), Binary("*", Constant(2), Constant(3)))),
    ("(1 + 2) * 3", Binary("*", Binary("+", Constant(1), Constant(2)), Constant(3))),
    ("1 - 2 - 3", Binary("-", Binary("-", Constant(1), Constant(2)), Constant(3))),
    ("a || b && c", Logical("||", Lookup("a", (), 0, 1),
                            Logical("&&", Lookup("b", (), 0, 6), Lookup("c", (), 0, 11)))),
    ("a ?? b", Logical("??", Lookup("a", (), 0, 1), Lookup("b", (), 0, 6))),
    ("a < b == c", Binary("==", Binary("<", Lookup("a", (), 0, 1), Lookup("b", (), 0, 5)),
                          Lookup("c", (), 0, 10))),
    ("a ? 1 : b ? 2 : 3", Conditional(Lookup("a", (), 0, 1), Constant(1),
                                      Conditional(Lookup("b", (), 0, 9), Constant(2),
                                                  Constant(3)))),
    ("s.toLowerCase()", MethodCall(Lookup("s", (), 0, 1), "toLowerCase", ())),
    ("s.slice(1, -1)", MethodCall(Lookup("s", (), 0, 1), "slice",
                                  (Constant(1), Unary("-", Constant(1))))),
    ("Math.max(1, 2)", Call("Math.max", (Constant(1), Constant(2)))),
    ("parseInt(x)", Call("parseInt", (Lookup("x", (), 0, 10),))),
    ("[1, 'a',]", ArrayLiteral((Constant(1), Constant("a")))),
    ("{a: 1, 'b': 2, c}", ObjectLiteral((("a", Constant(1)), ("b", Constant(2)),
                                         ("c", Lookup("c", (), 0, 16))))),
])
def test_javascript_parses_to_the_expected_tree(text: str, tree: object) -> None:
    assert parse_js(text) == tree


def test_nan_and_infinity_are_constants() -> None:
    nan, infinity = parse_js("NaN"), parse_js("Infinity")
    assert isinstance(nan, Constant) and isinstance(nan.value, float) and math.isnan(nan.value)
    assert infinity == Constant(math.inf)


@pytest.mark.parametrize(("text", "parts"), [
    ("", ()),
    ("no templates here", ("no templates here",)),
    ("$5 and 100% and {braces}", ("$5 and 100% and {braces}",)),
    ("%{call.from}", (Lookup("call", ("from",), 0, 3),)),
    ("Hi ${vars.name}!", ("Hi ", Lookup("vars", ("name",), 0, 6), "!")),
    ("${a}${b}", (Lookup("a", (), 0, 3), Lookup("b", (), 0, 7))),
    ("${ a }", (Lookup("a", (), 0, 4),)),
    ("${vars.x == '}' ? 1 : 2} tail",
     (Conditional(Binary("==", Lookup("vars", ("x",), 0, 3), Constant("}")), Constant(1),
                  Constant(2)), " tail")),
    ("${ {a: {b: 1}} }", (ObjectLiteral((("a", ObjectLiteral((("b", Constant(1)),))),)),)),
    ("line\n  ${x}", ("line\n  ", Lookup("x", (), 1, 5))),
])
def test_swml_templates_split_into_text_and_expressions(text: str, parts: tuple[object, ...]) \
        -> None:
    assert parse_swml_template(text) == SwmlTemplate(parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "%{call.from}", "Hi ${vars.name}!", "${a}${b} tail", "x ${vars.a.b[0].c} y %{params.z}",
    "$${a}", "%${a}", "line\n${b[12]}", "${call.from_number}", "${$x.y}", "no template",
])
def test_plain_swml_fast_path_builds_the_same_tree_as_the_grammar(text: str) -> None:
    fast = _plain_swml(text)
    assert fast is not None
    from interpreter.expressions.parse import _JS, _parse, _run
    assert fast == _run(_JS, _parse("swml", text, "template"))


# ------------------------------------------------------------ Calling SWML errors

@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("vars.x ==", 0, 10, "unexpected end of expression"),
    ("(1 + 2", 0, 7, "unexpected end"),
    ("a b", 0, 3, "unexpected 'b'"),
    ("1 +* 2", 0, 4, "unexpected '*'"),
    ("'abc", 0, 1, "string is not closed"),
    ("a ? b", 0, 6, "unexpected end"),
    ("a\n  + + )", 1, 7, "unexpected ')'"),
    ("f(a b)", 0, 5, "unexpected 'b'"),
    ("'\\x4'", 0, 1, "invalid escape"),
    ("", 0, 1, "unexpected end"),
    ("x" * 1025, 0, 1, "limit is 1024"),
    ("${vars.x} == 1", 0, 2, "a condition is a bare expression"),
])
def test_js_syntax_errors_carry_a_position_in_the_text(text: str, line: int, col: int,
                                                       message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_js(text)
    error = caught.value
    assert (error.kind, error.line, error.col) == ("syntax", line, col)
    assert message in error.message


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("${vars.x", 0, 1, "`${` is not closed"),
    ("ok ${a} then %{ b +", 0, 14, "`%{` is not closed"),
    ("one\ntwo ${a b}", 1, 9, "unexpected 'b'"),
    ("a = b ${x +}", 0, 12, "unexpected '}'"),
    ("${" + "a+" * 520 + "1}", 0, 1, "limit is 1024"),
])
def test_swml_template_errors_are_positioned_within_the_whole_string(
        text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_swml_template(text)
    assert (caught.value.line, caught.value.col) == (line, col)
    assert message in caught.value.message


@pytest.mark.parametrize(("text", "col", "construct"), [
    ("x => x + 1", 3, "an arrow function"),
    ("(a, b) => a", 8, "an arrow function"),
    ("items.map(x)", 7, "the method .map()"),
    ("items.filter(Boolean)", 7, "the method .filter()"),
    ("foo(1)", 1, "calling foo()"),
    ("eval('1')", 1, "calling eval()"),
    ("a[0](1)", 1, "calling a computed value"),
    ("new Date()", 1, "the `new` operator"),
    ("function () { return 1 }", 1, "a function definition"),
    ("a = 1", 3, "assignment (`=`)"),
    ("a += 1", 3, "assignment (`+=`)"),
    ("a++", 2, "the `++` operator"),
    ("--a", 1, "the `--` operator"),
    ("/ab+c/.test(s)", 1, "a regular expression literal"),
    ("`hi ${x}`", 1, "a template literal"),
    ("a in b", 3, "the `in` operator"),
    ("a instanceof B", 3, "the `instanceof` operator"),
    ("2 ** 3", 3, "the `**` operator"),
    ("a & 1", 3, "the bitwise operator `&`"),
    ("[...a]", 2, "spread syntax"),
    ("a; b", 2, "more than one statement"),
    ("this.x", 1, "`this`"),
    ("Math.PI", 1, "`Math.PI`"),
    ("Math.random()", 6, "`Math.random()`"),
    ("JSON", 1, "`JSON` on its own"),
    ("if (a) b", 1, "the `if` statement"),
    ("let x = 1", 1, "a variable declaration"),
])
def test_valid_javascript_outside_the_subset_is_unsupported_not_a_syntax_error(
        text: str, col: int, construct: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_js(text)
    error = caught.value
    assert (error.kind, error.line, error.col) == ("unsupported", 0, col)
    assert error.message.startswith(construct)
    assert "outside callkernel's supported JavaScript subset" in error.message
    assert "docs/expressions.md" in error.message


def test_unsupported_construct_inside_a_template_is_positioned_in_the_string() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_swml_template("Total: ${vars.items.map(x)} items")
    assert (caught.value.kind, caught.value.col) == ("unsupported", 21)


def test_text_outside_the_failing_template_part_is_not_classified() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_swml_template("${a +} and b = c")
    assert caught.value.kind == "syntax"


def test_deep_nesting_is_rejected_before_it_can_exhaust_the_stack() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_js("!" * 200 + "a")
    assert caught.value.kind == "unsupported" and "nesting deeper than 64" in \
        caught.value.message
    assert parse_js("(" * 300 + "1" + ")" * 300) == Constant(1)  # parentheses add no depth


# ------------------------------------------------------------ SWAIG

def var(*segments: str | int | SwaigVar, filters: tuple[str, ...] = (), line: int = 0,
        col: int = 1) -> SwaigVar:
    return SwaigVar(filters, segments, line, col)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "parts"), [
    ("Hello ${args.name}", ("Hello ", var("args", "name", col=7))),
    ("${global_data.a.b[0]}", (var("global_data", "a", "b", 0),)),
    ("%{temp}", (var("temp"),)),
    ("${Records[0].secret}", (var("Records", 0, "secret"),)),
    ("${current_condition[0].temp_C}", (var("current_condition", 0, "temp_C"),)),
    ("${lc:args.q}", (var("args", "q", filters=("lc",)),)),
    ("${lc:enc:url:args.q}", (var("args", "q", filters=("lc", "enc:url")),)),
    ("${enc:args.q}", (var("args", "q", filters=("enc:url",)),)),
    ("${uc:enc:html:x}", (var("x", filters=("uc", "enc:html")),)),
    ("${meta_data.table.${lc:args.target}}",
     (var("meta_data", "table", var("args", "target", filters=("lc",), col=19)),)),
    ("@{strftime_tz America/Chicago %H:%M}",
     (SwaigFunction("strftime_tz", (" America/Chicago %H:%M",), 0, 1),)),
    ("@{fmt_ph national ${args.p}}",
     (SwaigFunction("fmt_ph", (" national ", var("args", "p", col=19)), 0, 1),)),
    ("wait@{sleep 2}", ("wait", SwaigFunction("sleep", (" 2",), 0, 5))),
    ("@{echo}", (SwaigFunction("echo", (), 0, 1),)),
    ("$5 @ 100% a@b {x} }", ("$5 @ 100% a@b {x} }",)),
])
def test_swaig_templates_parse_to_variables_and_functions(text: str,
                                                          parts: tuple[object, ...]) -> None:
    assert parse_swaig_template(text) == SwaigTemplate(parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "Hello ${args.name}", "${lc:enc:url:args.q} and ${enc:args.q}", "a ${x-y.z[3]} b",
    "${global_data.a.b[0]}%{temp}", "plain", "$5 @ 100%",
])
def test_plain_swaig_fast_path_builds_the_same_tree_as_the_grammar(text: str) -> None:
    fast = _plain_swaig(text)
    assert fast is not None
    from interpreter.expressions.parse import _SWAIG, _parse, _run
    assert fast == _run(_SWAIG, _parse("swaig", text, "template"))


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("${foo:args.q}", 0, 3, "unknown prefix function `foo:`; supported: lc:, uc:, enc:url:"),
    ("${lc:enc:zip:x}", 0, 10, "unknown prefix function `zip:`"),
    ("@{nope x}", 0, 3, "unknown function @{nope}; supported: strftime_tz"),
    ("${args.q", 0, 1, "`${` is not closed"),
    ("Hi\n@{echo ${a}", 1, 1, "`@{` is not closed"),
    ("${ args.q }", 0, 3, "unexpected ' '"),
    ("${args.q + 1}", 0, 9, "unexpected ' '"),
    ("@{expr 1 +}", 0, 1, "@{expr}: unexpected end"),
    ("@{expr x * 2}", 0, 1, "@{expr} takes numbers"),
    ("@{fmt_ph spoken +1555}", 0, 1, "format must be one of national"),
    ("@{strftime_tz UTC}", 0, 1, "needs a time zone and a format"),
    ("@{sleep soon}", 0, 1, "takes a number of seconds"),
])
def test_swaig_syntax_errors_are_positioned_and_list_what_is_supported(
        text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_swaig_template(text)
    error = caught.value
    assert (error.kind, error.line, error.col) == ("syntax", line, col)
    assert message in error.message


# ------------------------------------------------------------ references

def test_references_list_every_variable_read_with_its_position() -> None:
    template = parse_swml_template(
        "Hi ${vars.user.name},\n${prompt_value.toLowerCase() == 'y' ? call.from : envs.x[0]}")
    assert list(references(template)) == [
        VariableRef("vars", ("user", "name"), 0, 6),
        VariableRef("prompt_value", (), 1, 3),
        VariableRef("call", ("from",), 1, 39),
        VariableRef("envs", ("x", 0), 1, 51),
    ]


def test_references_of_a_bare_expression_include_call_arguments() -> None:
    refs = list(references(parse_js("Math.max(a, parseInt(b.c)) + [d][0]")))
    assert [(ref.root, ref.path) for ref in refs] == [("a", ()), ("b", ("c",)), ("d", ())]


def test_swaig_references_include_nested_and_function_arguments() -> None:
    template = parse_swaig_template(
        "${meta_data.table.${lc:args.target}.x} @{fmt_ph national ${args.phone}}")
    assert list(references(template)) == [
        VariableRef("meta_data", ("table",), 0, 1),
        VariableRef("args", ("target",), 0, 19),
        VariableRef("args", ("phone",), 0, 58),
    ]
