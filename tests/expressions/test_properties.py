"""Properties: parsing fails only with ExpressionSyntaxError, evaluation and
rendering only with ExpressionRuntimeError, whatever the input."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from hypothesis import given, settings
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
from interpreter.expressions.parse import _JS, _SWAIG, _parse, _plain_swaig, _plain_swml, _run

PROPERTY = settings(max_examples=300, deadline=None)

json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "x", "0", "length"]), children, max_size=4),
    max_leaves=12,
)
scopes = st.builds(
    MappingScope,
    call=st.dictionaries(st.sampled_from(["from", "type", "a"]), json_values, max_size=3),
    vars=st.dictionaries(st.sampled_from(["a", "b", "x", "s", "n"]), json_values, max_size=5),
    envs=st.dictionaries(st.sampled_from(["a", "region"]), json_values, max_size=2),
)

# Characters that matter to the grammars, so random text reaches deep into them.
SPECIAL = st.text(alphabet=st.sampled_from(list("${}%@()[].,:;'\"`?!=<>+-*/&|^~\\ \nax0_9")),
                  max_size=60)
TOKENS = [
    "a", "vars.x", "s", "n", "call.from", "x.y[0]", "1", "0", "2.5", "-1", "1e300", "'a'",
    "'10'", "''", "\"x\"", "true", "false", "null", "undefined", "NaN", "Infinity",
    "+", "-", "*", "/", "%", "==", "!=", "===", "!==", "<", "<=", ">", ">=", "&&", "||",
    "??", "?", ":", "!", "typeof", "(", ")", "[", "]", "{", "}", ",", ".", "?.",
    ".length", ".toLowerCase()", ".includes(", ".slice(", ".split(", ".padStart(", ".join(",
    ".replace(", ".toFixed(", ".concat(", ".charAt(", ".indexOf(", ".map(", "parseInt(",
    "Math.max(", "Math.round(", "JSON.stringify(", "JSON.parse(", "String(", "Number(",
    "=>", "=", "++", "new", "function", "/x/", "`t`", "in",
]
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map(" ".join)


def _leaf() -> st.SearchStrategy[str]:
    return st.sampled_from(["vars.a", "vars.s", "n", "call.from", "vars.a.b[0]", "x", "1",
                            "0", "-2.5", "'abc'", "''", "'7'", "true", "null", "undefined",
                            "[1, 'a']", "{a: 1}", "NaN", "1e21"])


valid_expressions = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%", "==", "===", "!=", "<",
                                          ">=", "&&", "||", "??"]), inner)
        .map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["!", "-", "+", "typeof "]), inner)
        .map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(inner, st.sampled_from([
            "toLowerCase()", "includes('a')", "slice(1, -1)", "split(',')", "padStart(4, '0')",
            "indexOf('b')", "join('-')", "concat([1])", "replace('a', '$&$$')", "toFixed(2)",
            "length", "charAt(0)", "trim()", "toString()", "startsWith('x')"]))
        .map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(st.sampled_from(["parseInt", "parseFloat", "Number", "String", "Boolean",
                                   "isNaN", "Math.floor", "Math.round", "Math.max",
                                   "JSON.stringify", "JSON.parse"]), inner)
        .map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
    ),
    max_leaves=10,
)


@PROPERTY
@given(st.text(max_size=80) | SPECIAL | token_soup)
def test_parsing_any_text_raises_only_syntax_errors(text: str) -> None:
    for parse in (parse_js, parse_swml_template, parse_swaig_template):
        try:
            parse(text)
        except ExpressionSyntaxError as error:
            assert error.kind in ("syntax", "unsupported")
            assert error.line >= 0 and error.col >= 1


@PROPERTY
@given(token_soup | SPECIAL, scopes)
def test_evaluating_whatever_parses_raises_only_runtime_errors(text: str,
                                                               scope: MappingScope) -> None:
    try:
        expr = parse_js(text)
    except ExpressionSyntaxError:
        return
    with contextlib.suppress(ExpressionRuntimeError):
        evaluate_js(expr, scope)


@PROPERTY
@given(valid_expressions, scopes)
def test_generated_subset_expressions_parse_and_evaluate(text: str,
                                                         scope: MappingScope) -> None:
    expr = parse_js(text)
    with contextlib.suppress(ExpressionRuntimeError):
        evaluate_js(expr, scope)
    with contextlib.suppress(ExpressionRuntimeError):
        render_swml(parse_swml_template(f"value: ${{{text}}}"), scope)


swaig_roots = st.dictionaries(
    st.sampled_from(["args", "global_data", "meta_data", "location", "response", "x"]),
    json_values, max_size=5)
swaig_pieces = st.sampled_from([
    "text ", "$", "@", "%", "{", "}", "${args.a}", "${lc:x}", "${enc:url:args.b}",
    "${meta_data.${x}}", "${global_data.a[0]}", "@{echo ${x}}", "@{separate ${location}}",
    "@{expr 1 + ${x}}", "@{fmt_ph national ${x}}", "@{strftime_tz ${x} %H}",
    "@{strftime_tz UTC %Y}", "@{sleep 1}", "${response.a}", "${uc:enc:html:x}",
])


@PROPERTY
@given(st.lists(swaig_pieces, max_size=8).map("".join), swaig_roots)
def test_swaig_rendering_raises_only_runtime_errors(text: str,
                                                    roots: dict[str, JSONValue]) -> None:
    try:
        template = parse_swaig_template(text)
    except ExpressionSyntaxError:
        return
    with contextlib.suppress(ExpressionRuntimeError):
        render_swaig(template, SwaigScope(roots, now=datetime(2024, 1, 1, tzinfo=UTC)))


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda name: name not in {"undefined", "NaN", "Infinity", "true", "false", "null",
                              "Math", "JSON", "in", "new", "this", "if", "do", "for", "let",
                              "var", "try", "case", "else", "void", "with", "class", "const",
                              "super", "while", "yield", "await", "async", "break", "catch",
                              "throw", "typeof", "delete", "export", "import", "return",
                              "switch", "default", "finally", "function", "continue",
                              "debugger", "arguments", "extends", "instanceof"})
paths = st.tuples(identifiers, st.lists(
    identifiers.map(lambda name: f".{name}") | st.integers(0, 99).map(lambda i: f"[{i}]"),
    max_size=4).map("".join)).map("".join)
plain_templates = st.lists(
    st.sampled_from(["", "text ", "$", "%", "{", "}", "\n"]) | paths.map(lambda p: f"${{{p}}}")
    | paths.map(lambda p: f"%{{{p}}}"), max_size=6).map("".join)


@PROPERTY
@given(plain_templates)
def test_fast_paths_agree_with_the_grammar(text: str) -> None:
    try:
        slow: object = _run(_JS, _parse("swml", text, "template"))
    except ExpressionSyntaxError:
        slow = None
    quick: object = _plain_swml(text)
    assert quick is None or quick == slow
    try:
        slow = _run(_SWAIG, _parse("swaig", text, "template"))
    except ExpressionSyntaxError:
        slow = None
    quick = _plain_swaig(text)
    assert quick is None or quick == slow
