"""Arguments the model sends: parsed, checked against the function's schema,
and refused with messages the model can act on."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from interpreter import ir
from interpreter.document.coerce import freeze
from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.runtime.tools.arguments import parse_arguments, thaw
from interpreter.runtime.tools.base import ToolFault


def _function(parameters: JSONValue, name: str = "book") -> ir.Function:
    frozen = freeze(parameters)
    assert isinstance(frozen, MappingProxyType)
    return ir.Function(name, "Book a table.", frozen)


BOOKING = _function({
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "party": {"type": "integer", "minimum": 1, "maximum": 12},
        "time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        "seating": {"type": "string", "enum": ["inside", "terrace"]},
        "notes": {"type": "string", "nullable": True},
        "guests": {"type": "array", "items": {"type": "object",
                                             "properties": {"age": {"type": "integer"}},
                                             "required": ["age"]}},
    },
    "required": ["name", "party"],
    "additionalProperties": False,
})


def _refused(function: ir.Function, raw: str) -> ToolFault:
    with pytest.raises(ToolFault) as caught:
        parse_arguments(function, raw)
    return caught.value


def test_valid_arguments_come_back_as_a_dict() -> None:
    raw = '{"name": "Ada", "party": 4, "seating": "terrace", "guests": [{"age": 9}]}'
    assert parse_arguments(BOOKING, raw) == json.loads(raw)


@pytest.mark.parametrize("raw", ["", "   ", "null", "{}"])
def test_empty_arguments_are_an_empty_object(raw: str) -> None:
    assert parse_arguments(_function({"type": "object", "properties": {}}), raw) == {}


def test_missing_required_argument_is_named() -> None:
    fault = _refused(BOOKING, '{"party": 2}')
    assert fault.error_type is ErrorType.TOOL_INVALID_CALL
    assert 'missing required argument "name"' in fault.detail
    assert "Call book again with corrected arguments." in fault.detail


def test_several_missing_arguments_are_listed_together() -> None:
    assert 'missing required arguments "name", "party"' in _refused(BOOKING, "{}").detail


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"name": "Ada", "party": "4"}', 'argument "party" must be an integer, not a string ("4")'),
    ('{"name": "Ada", "party": 40}', 'argument "party" must be at most 12, not 40'),
    ('{"name": "A", "party": 2}', 'argument "name" must be at least 2 characters long, not "A"'),
    ('{"name": "Ada", "party": 2, "time": "7pm"}',
     'argument "time" must match the pattern ^[0-2][0-9]:[0-5][0-9]$, not "7pm"'),
    ('{"name": "Ada", "party": 2, "seating": "roof"}',
     'argument "seating" must be one of "inside", "terrace", not "roof"'),
    ('{"name": "Ada", "party": 2, "dog": true}', 'unexpected argument "dog"'),
    ('{"name": "Ada", "party": 2, "guests": [{"age": 3}, {}]}',
     'missing required argument "guests[1].age"'),
    ('{"name": "Ada", "party": 2, "guests": [{"age": 2.5}]}',
     'argument "guests[0].age" must be an integer, not a number (2.5)'),
])
def test_each_violation_names_the_argument_and_the_rule(raw: str, expected: str) -> None:
    fault = _refused(BOOKING, raw)
    assert fault.error_type is ErrorType.TOOL_INVALID_CALL
    assert expected in fault.detail


def test_messages_never_show_python_reprs() -> None:
    detail = _refused(BOOKING, '{"party": "x", "seating": "roof", "dog": 1}').detail
    assert "'" not in detail and "u'" not in detail and "None" not in detail


def test_at_most_three_problems_are_reported() -> None:
    detail = _refused(BOOKING, '{"name": 1, "party": "x", "time": 4, "notes": 5}').detail
    assert detail.count("argument \"") == 3 and "(and 1 more)" in detail


def test_nullable_property_accepts_null() -> None:
    assert parse_arguments(BOOKING, '{"name": "Ada", "party": 2, "notes": null}')["notes"] is None


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"name": "Ada",', "not valid JSON"),
    ("[1, 2]", "must be a JSON object, not an array"),
    ('"Ada"', "must be a JSON object, not a string"),
    ('{"party": NaN}', "not valid JSON"),
    ("[" * 100_000, "not valid JSON"),
])
def test_text_that_is_not_a_json_object_is_refused(raw: str, expected: str) -> None:
    fault = _refused(BOOKING, raw)
    assert fault.error_type is ErrorType.TOOL_INVALID_CALL
    assert expected in fault.detail and "Send them as one JSON object." in fault.detail


def test_a_broken_schema_is_the_authors_fault_not_the_models() -> None:
    fault = _refused(_function({"type": "object", "properties": {"a": {"type": 5}}}), "{}")
    assert fault.error_type is ErrorType.TOOL_ERROR


def test_a_remote_ref_is_never_fetched() -> None:
    function = _function({"type": "object",
                          "properties": {"a": {"$ref": "http://127.0.0.1:9/schema.json"}}})
    fault = _refused(function, '{"a": 1}')
    assert fault.error_type is ErrorType.TOOL_ERROR and "$ref" in fault.detail


def test_local_refs_resolve() -> None:
    function = _function({"type": "object", "$defs": {"id": {"type": "string"}},
                          "properties": {"a": {"$ref": "#/$defs/id"}}})
    assert parse_arguments(function, '{"a": "x"}') == {"a": "x"}
    assert "must be a string" in _refused(function, '{"a": 1}').detail


def test_one_validator_is_built_per_function_object() -> None:
    from interpreter.runtime.tools import arguments

    parse_arguments(BOOKING, '{"name": "Ada", "party": 1}')
    first = arguments._validators[id(BOOKING)][1]
    parse_arguments(BOOKING, '{"name": "Bob", "party": 2}')
    assert arguments._validators[id(BOOKING)][1] is first


def test_thaw_gives_plain_json() -> None:
    value: JSONValue = {"a": [1, {"b": None}], "c": "x"}
    assert thaw(freeze(value)) == value


def test_a_schema_pattern_runs_on_the_bounded_engine() -> None:
    import time

    function = ir.Function("lookup", "Look up.", ir.freeze({  # type: ignore[arg-type]
        "type": "object", "properties": {"code": {"type": "string", "pattern": "^(\\d|\\d\\d)+$"}},
        "patternProperties": {"^(a|aa)+$": {"type": "integer"}}}))
    started = time.monotonic()
    with pytest.raises(ToolFault) as caught:
        parse_arguments(function, '{"code": "' + "1" * 40 + '!"}')
    assert caught.value.error_type is ErrorType.TOOL_INVALID_CALL
    assert "must match the pattern" in caught.value.detail
    assert parse_arguments(function, '{"code": "123"}') == {"code": "123"}
    with pytest.raises(ToolFault):
        parse_arguments(function, '{"aaaa": "not an integer"}')
    assert time.monotonic() - started < 2
