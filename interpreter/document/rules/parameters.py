"""Rules: a function's `parameters` holds JSON Schema keywords, and nothing else.

JSON Schema ignores keywords it does not know, so the schema check passes a
`data_map` indented one level too deep, under `parameters`: the function then
has no data_map and silently goes to SWAIG.defaults.web_hook_url. A typo such
as `requird` or `desciption` is dropped the same way. These rules walk every
subschema of `parameters` and report what is not a keyword.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from interpreter.diagnostics import Diagnostic, JSONPath
from interpreter.document.index import FunctionSite
from interpreter.document.lint import LintContext, rule
from interpreter.document.schema import did_you_mean, flow_schema
from interpreter.jsontypes import JSONValue

# JSON Schema 2020-12 and draft 7 keywords, with the OpenAPI ones that the
# SDK and OpenAI-style tool definitions carry (`nullable`, `example`).
KEYWORDS = frozenset({
    "$schema", "$id", "$ref", "$defs", "definitions", "$comment", "$anchor",
    "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$recursiveRef", "$recursiveAnchor",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "prefixItems", "items", "additionalItems", "contains", "properties",
    "patternProperties", "additionalProperties", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties",
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
    "required", "dependentRequired", "dependencies",
    "title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
    "format", "contentEncoding", "contentMediaType", "contentSchema",
    "nullable", "example",
})
# Keywords whose value is one schema, a list of schemas, or a map of them.
_ONE = ("additionalProperties", "items", "additionalItems", "contains", "not", "if", "then",
        "else", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
# Keys of a function that are surely not a property's schema, wherever they sit.
_MISPLACED_ANYWHERE = frozenset({"data_map", "web_hook_url"})


@cache
def _function_keys() -> frozenset[str]:
    keys = flow_schema()["$defs"]["SwaigFunction"]["properties"]
    return frozenset(keys) - KEYWORDS


def subschemas(schema: JSONValue, path: JSONPath) -> Iterator[tuple[dict[str, JSONValue],
                                                                    JSONPath]]:
    """`schema` and every schema nested in it, each with its path."""
    if not isinstance(schema, dict):
        return
    yield schema, path
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key], (*path, key))
    for key in _LIST:
        items = schema.get(key)
        for position, item in enumerate(items if isinstance(items, list) else []):
            yield from subschemas(item, (*path, key, position))
    for key in _MAP:
        members = schema.get(key)
        for name, member in (members.items() if isinstance(members, dict) else []):
            yield from subschemas(member, (*path, key, name))


@dataclass(frozen=True, slots=True)
class _Finding:
    function: FunctionSite
    key: str
    value: JSONValue
    schema: dict[str, JSONValue]
    path: JSONPath
    misplaced: bool  # a key of the function itself (CK411), else not a keyword (CK412)


def _findings(ctx: LintContext) -> list[_Finding]:
    """Every key of every parameters schema that is not a JSON Schema keyword,
    found once per lint for both rules."""
    cached = ctx._cache.get("parameter_keys")
    if isinstance(cached, list):
        return cached
    found: list[_Finding] = []
    function_keys = _function_keys()
    for ai in ctx.index.ai:
        for function in ai.functions:
            base = (*function.path, "parameters")
            for schema, path in subschemas(function.data.get("parameters"), base):
                for key, value in schema.items():
                    if key in KEYWORDS or key.startswith("x-"):
                        continue
                    misplaced = key in _MISPLACED_ANYWHERE or (path == base
                                                               and key in function_keys)
                    found.append(_Finding(function, key, value, schema, (*path, key),
                                          misplaced))
    ctx._cache["parameter_keys"] = found
    return found


@rule("CK411")
def function_key_in_parameters(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in _findings(ctx):
        if not found.misplaced:
            continue
        key, function = found.key, found.function
        outcome = ""
        if key == "data_map" and "data_map" not in function.data:
            ai = next(ai for ai in ctx.index.ai if function in ai.functions)
            swaig = ai.args.get("SWAIG")
            defaults = swaig.get("defaults") if isinstance(swaig, dict) else None
            fallback = isinstance(defaults, dict) and bool(defaults.get("web_hook_url"))
            outcome = (": as written the function has no data_map, so it is sent to "
                       "SWAIG.defaults.web_hook_url" if fallback else
                       ": as written the function has no data_map")
        yield ctx.report(f'"{key}" is a key of the function "{function.name}", not of its '
                         f"parameters schema{outcome}", found.path, key=True,
                         hint=f'"{key}" belongs beside "parameters", not inside it: line it '
                         'up with "parameters"')


@rule("CK412")
def unknown_parameter_keyword(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in _findings(ctx):
        if found.misplaced:
            continue
        message = (f'"{found.key}" is not a JSON Schema keyword, so the parameters of '
                   f'"{found.function.name}" ignore it')
        value, schema = found.value, found.schema
        looks_like_property = isinstance(value, dict) and ("type" in value
                                                           or "description" in value)
        hint: str | None
        if looks_like_property and (schema.get("type") == "object" or "properties" in schema):
            hint = 'a parameter? list it under "properties", one level deeper'
        else:
            hint = did_you_mean(found.key, sorted(KEYWORDS))
        yield ctx.report(message, found.path, key=True, hint=hint)
