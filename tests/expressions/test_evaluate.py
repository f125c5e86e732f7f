"""Evaluation of Calling-SWML expressions and rendering of both template kinds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from interpreter.expressions import (
    ExpressionRuntimeError,
    JSONValue,
    MappingScope,
    SwaigScope,
    evaluate_js,
    is_truthy,
    parse_js,
    parse_swaig_template,
    parse_swml_template,
    render_swaig,
    render_swml,
)
from interpreter.expressions.functions import number_to_string

SCOPE = MappingScope(
    call={"from": "+15551234567", "to": "+15557654321", "type": "SIP", "direction": "inbound",
          "headers": [{"name": "X-Tier", "value": "gold"}]},
    params={"lang": "en", "retries": 2},
    vars={"prompt_value": "Sales please", "prompt_result": "match_speech", "count": 2,
          "items": ["a", "b", "c"], "empty": "", "zero": 0, "nothing": None,
          "order": {"id": "A123", "lines": [{"sku": "X1", "qty": 3}]},
          "price": "19.5", "flag": True},
    envs={"region": "eu-west", "count": 99},
)


def js(text: str, scope: MappingScope = SCOPE) -> JSONValue:
    return evaluate_js(parse_js(text), scope)


@pytest.mark.parametrize(("expression", "expected"), [
    # lookups, scopes and unprefixed names
    ("call.from", "+15551234567"),
    ("vars.order.lines[0].sku", "X1"),
    ("vars.order['id']", "A123"),
    ("call.headers[0].value", "gold"),
    ("prompt_value", "Sales please"),
    ("count", 2),  # vars before envs
    ("region", "eu-west"),  # then envs
    ("direction", "inbound"),  # then call
    ("params.retries", 2),
    ("vars.missing", None),
    ("vars.missing.deeper.still", None),  # reading through undefined is lenient
    ("items.length", 3),
    ("(items.length)", 3),
    ("vars.items[1]", "b"),
    ("vars.items[5]", None),
    ("'hello'.length", 5),
    ("'hello'[1]", "e"),
    # arithmetic and concatenation
    ("count + 1", 3),
    ("count * 2.5", 5),
    ("7 / 2", 3.5),
    ("4 / 2", 2),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("0.1 + 0.2", 0.30000000000000004),
    ("'a' + 1", "a1"),
    ("1 + '1'", "11"),
    ("1 + 2 + 'x'", "3x"),
    ("'x' + 1 + 2", "x12"),
    ("price * 2", 39),
    ("price + 1", "19.51"),
    ("+price + 1", 20.5),
    ("'5' - 2", 3),
    ("'abc' * 2", math.nan),
    ("1 + null", 1),
    ("1 + true", 2),
    ("[1, 2] + ''", "1,2"),
    ("({}) + ''", "[object Object]"),
    ("'n: ' + vars.missing", "n: undefined"),
    ("'n: ' + vars.nothing", "n: null"),
    ("1 / 0", math.inf),
    ("-1 / 0", -math.inf),
    ("0x1F + 0o7 + 0b11", 41),
    ("1e3", 1000),
    # logical operators return operands
    ("prompt_value && 'yes'", "yes"),
    ("empty && 'yes'", ""),
    ("empty || 'fallback'", "fallback"),
    ("zero || vars.missing || 'last'", "last"),
    ("count || 'unused'", 2),
    ("vars.missing ?? 'default'", "default"),
    ("vars.nothing ?? 'default'", "default"),
    ("zero ?? 'default'", 0),
    ("empty ?? 'default'", ""),
    ("!empty", True),
    ("!!items", True),
    ("count > 1 ? 'many' : 'one'", "many"),
    ("vars.flag ? 1 : vars.missing.x", 1),
    # comparisons
    ("call.type.toLowerCase() == 'sip'", True),
    ("prompt_value == '0' || prompt_result == 'no_input'", False),
    ("count >= 2 && count < 3", True),
    ("'apple' < 'banana'", True),
    ("'10' < '9'", True),  # both strings: compared as text
    ("'10' < 9", False),  # one number: compared as numbers
    ("vars.missing < 1", False),
    ("null < 1", True),
    ("typeof vars.missing", "undefined"),
    ("typeof vars.nothing", "object"),
    ("typeof count", "number"),
    ("typeof items", "object"),
    # object and array literals
    ("[1, 'two', null]", [1, "two", None]),
    ("{a: 1, 'b c': count, d: vars.missing}", {"a": 1, "b c": 2}),
])
def test_expression_evaluates_like_javascript(expression: str, expected: JSONValue) -> None:
    result = js(expression)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(result, float) and math.isnan(result)
    else:
        assert result == expected
        assert type(result) is type(expected)


@pytest.mark.parametrize(("left", "right", "loose", "strict"), [
    ("1", "'1'", True, False),
    ("0", "''", True, False),
    ("0", "'0'", True, False),
    ("''", "'0'", False, False),
    ("null", "undefined", True, False),
    ("null", "0", False, False),
    ("undefined", "0", False, False),
    ("null", "false", False, False),
    ("true", "1", True, False),
    ("true", "'1'", True, False),
    ("false", "'0'", True, False),
    ("false", "''", True, False),
    ("NaN", "NaN", False, False),
    ("'abc'", "'abc'", True, True),
    ("1", "1.0", True, True),
    ("[1,2]", "'1,2'", True, False),
    ("items", "items", True, True),
    ("[]", "[]", False, False),
    ("vars.missing", "undefined", True, True),
    ("vars.nothing", "null", True, True),
])
def test_equality_follows_javascript_loose_and_strict_rules(
        left: str, right: str, loose: bool, strict: bool) -> None:
    assert js(f"{left} == {right}") is loose
    assert js(f"{left} != {right}") is not loose
    assert js(f"{left} === {right}") is strict
    assert js(f"{left} !== {right}") is not strict


@pytest.mark.parametrize(("value", "truthy"), [
    (None, False), (False, False), (0, False), (0.0, False), (math.nan, False), ("", False),
    (True, True), (1, True), (-1, True), ("0", True), ("false", True), (" ", True),
    ([], True), ({}, True), ([0], True),
])
def test_truthiness_is_javascript_truthiness(value: JSONValue, truthy: bool) -> None:
    assert is_truthy(value) is truthy
    assert js("vars.v ? true : false", MappingScope(vars={"v": value})) is truthy


@pytest.mark.parametrize(("expression", "expected"), [
    ("prompt_value.toLowerCase()", "sales please"),
    ("prompt_value.toUpperCase()", "SALES PLEASE"),
    ("prompt_value.toLowerCase().includes('sales')", True),
    ("prompt_value.includes('Sales', 1)", False),
    ("prompt_value.startsWith('Sal')", True),
    ("prompt_value.endsWith('please')", True),
    ("prompt_value.indexOf('please')", 6),
    ("prompt_value.indexOf('zzz')", -1),
    ("'  x  '.trim()", "x"),
    ("'abcdef'.slice(1, 3)", "bc"),
    ("'abcdef'.slice(-2)", "ef"),
    ("'abcdef'.substring(4, 1)", "bcd"),
    ("'a,b,,c'.split(',')", ["a", "b", "", "c"]),
    ("'abc'.split('')", ["a", "b", "c"]),
    ("'a,b,c'.split(',', 2)", ["a", "b"]),
    ("'a-b-a'.replace('a', 'x')", "x-b-a"),
    ("'a-b-a'.replaceAll('a', 'x')", "x-b-x"),
    ("'cost'.replace('cost', '$$5 ($&)')", "$5 (cost)"),
    ("'abc'.charAt(1)", "b"),
    ("'abc'.charAt(9)", ""),
    ("'7'.padStart(3, '0')", "007"),
    ("'7'.padEnd(3)", "7  "),
    ("'a'.concat('b', 1)", "ab1"),
    ("items.includes('b')", True),
    ("items.indexOf('c')", 2),
    ("items.join('-')", "a-b-c"),
    ("items.join()", "a,b,c"),
    ("items.slice(1)", ["b", "c"]),
    ("items.concat(['d'], 'e')", ["a", "b", "c", "d", "e"]),
    ("[1, null, 2].join()", "1,,2"),
    ("[NaN].includes(NaN)", True),
    ("[NaN].indexOf(NaN)", -1),
    ("count.toString()", "2"),
    ("(2.5).toFixed(0)", "3"),
    ("(1.005).toFixed(2)", "1.00"),
    ("(19.5).toFixed(2)", "19.50"),
    ("parseInt('42px')", 42),
    ("parseInt('0x1A')", 26),
    ("parseInt('101', 2)", 5),
    ("parseInt('px')", math.nan),
    ("parseFloat('3.25 kg')", 3.25),
    ("Number('  12  ')", 12),
    ("Number('')", 0),
    ("Number('12px')", math.nan),
    ("String(12.0)", "12"),
    ("String(vars.missing)", "undefined"),
    ("Boolean('0')", True),
    ("isNaN('abc')", True),
    ("Math.floor(-2.5)", -3),
    ("Math.ceil(2.1)", 3),
    ("Math.round(2.5)", 3),
    ("Math.round(-2.5)", -2),
    ("Math.abs(-4)", 4),
    ("Math.min(3, 1, 2)", 1),
    ("Math.max(count, params.retries, 7)", 7),
    ("JSON.stringify(vars.order)", '{"id":"A123","lines":[{"sku":"X1","qty":3}]}'),
    ("JSON.stringify([1.0, 'x', null, true])", '[1,"x",null,true]'),
    ("JSON.parse('{\"a\": [1, 2.5]}').a[1]", 2.5),
])
def test_whitelisted_members_and_globals_behave_like_javascript(
        expression: str, expected: JSONValue) -> None:
    result = js(expression)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(result, float) and math.isnan(result)
    else:
        assert result == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("count.toLowerCase()", "cannot call .toLowerCase() on a number"),
    ("vars.missing.toLowerCase()", "cannot call .toLowerCase() on undefined"),
    ("vars.nothing.includes('x')", "cannot call .includes() on null"),
    ("vars.order.join()", "cannot call .join() on an object"),
    ("items.toUpperCase()", "cannot call .toUpperCase() on an array"),
    ("'x'.padStart(100000)", "the limit is 65,536"),
    ("JSON.parse('{bad')", "JSON.parse()"),
    ("(1).toFixed(101)", "toFixed()"),
])
def test_runtime_errors_say_what_went_wrong(expression: str, message: str) -> None:
    with pytest.raises(ExpressionRuntimeError, match=message.replace("(", r"\(")
                       .replace(")", r"\)").replace(".", r"\.")):
        js(expression)


def test_string_building_is_capped() -> None:
    scope = MappingScope(vars={"big": "x" * 40_000})
    with pytest.raises(ExpressionRuntimeError, match="limit"):
        js("vars.big + vars.big", scope)


@pytest.mark.parametrize(("value", "text"), [
    (2, "2"), (2.0, "2"), (-0.0, "0"), (2.5, "2.5"), (0.1 + 0.2, "0.30000000000000004"),
    (1e21, "1e+21"), (1e20, "100000000000000000000"), (123456789012345680000.0,
                                                        "123456789012345680000"),
    (0.000001, "0.000001"), (1e-7, "1e-7"), (1.5e-10, "1.5e-10"), (-3.75, "-3.75"),
    (math.inf, "Infinity"), (-math.inf, "-Infinity"), (math.nan, "NaN"),
    (2**60, "1152921504606847000"),
])
def test_numbers_print_as_javascript_prints_them(value: float, text: str) -> None:
    assert number_to_string(value) == text


# ------------------------------------------------------------ Calling-SWML templates

@pytest.mark.parametrize(("template", "expected"), [
    ("plain text", "plain text"),
    ("", ""),
    ("%{call.from}", "+15551234567"),
    ("${vars.count}", 2),  # exactly one ${...}: the value keeps its type
    ("${vars.order}", {"id": "A123", "lines": [{"sku": "X1", "qty": 3}]}),
    ("${vars.items}", ["a", "b", "c"]),
    ("${vars.count + 1}", 3),
    ("${vars.nothing}", None),
    ("${vars.missing}", ""),
    ("Hi ${vars.missing}!", "Hi !"),
    ("Hi ${vars.nothing}!", "Hi !"),
    ("n=${vars.count}", "n=2"),
    ("${vars.items}/${vars.flag}", "a,b,c/true"),
    ("${vars.count / 4} of ${(vars.items.length)}", "0.5 of 3"),
    ("${prompt_value.toLowerCase().includes('sales') ? 'sales' : 'other'}", "sales"),
    ("${vars.empty == '}' ? 1 : 2}", 2),
    ("costs $5 or 100%", "costs $5 or 100%"),
    ("$${vars.count}", "$2"),
    (" ${vars.count} ", " 2 "),
])
def test_swml_templates_render_parts_as_text_or_keep_a_lone_value(
        template: str, expected: JSONValue) -> None:
    assert render_swml(parse_swml_template(template), SCOPE) == expected


# ------------------------------------------------------------ SWAIG templates

SWAIG = SwaigScope(
    roots={"args": {"city": "San Francisco", "q": "Rock & Roll", "target": "WEST",
                    "phone": "5551234567", "tz": "Europe/Paris", "n": 12},
           "meta_data": {"table": {"west": "W-17"}},
           "global_data": {"customer": {"name": "Ada", "tags": ["vip", "new"]}},
           "location": "Paris", "temp_c": 21.0, "Records": [{"secret": "s3"}],
           "current": {"condition": {"text": "Sunny"}}},
    now=datetime(2024, 4, 2, 15, 30, 5, tzinfo=UTC),
)


@pytest.mark.parametrize(("template", "expected"), [
    ("Weather in ${args.city}", "Weather in San Francisco"),
    ("${global_data.customer.name}", "Ada"),
    ("${global_data.customer.tags[1]}", "new"),
    ("${global_data.customer.tags}", '["vip","new"]'),
    ("${location}", "Paris"),
    ("%{temp_c} C", "21 C"),
    ("${Records[0].secret}", "s3"),
    ("${response.current.condition.text}", "Sunny"),  # the SDK's alias for reply keys
    ("${missing} and ${args.missing}!", " and !"),
    ("${lc:args.city}", "san francisco"),
    ("${uc:args.city}", "SAN FRANCISCO"),
    ("${enc:url:args.city}", "San%20Francisco"),
    ("${lc:enc:url:args.q}", "rock%20%26%20roll"),
    ("${enc:args.q}", "Rock%20%26%20Roll"),  # `enc:` alone, as the SDK writes it
    ("${enc:html:args.q}", "Rock &amp; Roll"),
    ("${meta_data.table.${lc:args.target}}", "W-17"),
    ("@{strftime_tz America/Chicago %H:%M}", "10:30"),
    ("@{strftime_tz ${args.tz} %Y-%m-%d %H:%M:%S}", "2024-04-02 17:30:05"),
    ("@{fmt_ph national ${args.phone}}", "(555) 123-4567"),
    ("@{fmt_ph international +15551234567}", "+1 555-123-4567"),
    ("@{fmt_ph RFC3966 +15551234567}", "tel:+1-555-123-4567"),
    ("@{fmt_ph e164 (555) 123-4567}", "+15551234567"),
    ("@{fmt_ph national:sep:. +15551234567}", "555.123.4567"),
    ("@{fmt_ph international:sep:- 15551234567}", "+1-555-123-4567"),
    ("@{fmt_ph national +442071838750}", "+442071838750"),
    ("@{expr 2 * (3 + 4) - 1}", "13"),
    ("@{expr 7 / 2}", "3.5"),
    ("@{expr ${args.n} % 5}", "2"),
    ("@{echo hello ${location}}", "hello Paris"),
    ("@{separate 1234}", "1 2 3 4"),
    ("one@{sleep 2}two", "onetwo"),
    ("$5 @ 100% a@b.com {x}", "$5 @ 100% a@b.com {x}"),
])
def test_swaig_templates_expand_paths_prefixes_and_functions(template: str,
                                                             expected: str) -> None:
    assert render_swaig(parse_swaig_template(template), SWAIG) == expected


def test_swaig_response_is_a_real_root_when_the_reply_has_one() -> None:
    scope = SwaigScope(roots={"response": {"x": "inner"}, "x": "top"})
    assert render_swaig(parse_swaig_template("${response.x}"), scope) == "inner"


@pytest.mark.parametrize(("template", "message"), [
    ("@{strftime_tz Mars/Olympus %H}", "unknown time zone"),
    ("@{strftime_tz ${args.missing} %H}", "needs a time zone"),
    ("@{fmt_ph ${args.city} 555}", "unknown format"),
    ("@{expr ${args.city} + 1}", "@{expr}"),
])
def test_swaig_functions_fail_at_run_time_only_on_dynamic_arguments(template: str,
                                                                   message: str) -> None:
    parsed = parse_swaig_template(template)
    with pytest.raises(ExpressionRuntimeError, match=message.replace("{", r"\{")):
        render_swaig(parsed, SWAIG)


def test_strftime_tz_uses_the_real_clock_when_none_is_given() -> None:
    year = render_swaig(parse_swaig_template("@{strftime_tz UTC %Y}"), SwaigScope())
    assert int(year) >= 2024
