"""Rendering compiled values against a call's variables (SWML variables and
substitution, as SignalWire's SWML docs describe them).

Calling SWML sees four scopes: `call` (this leg's details), `params` (the
current section's), `vars` (the call's) and `envs` (read-only settings). A
template that is exactly one `${...}` keeps its value's type; anything else
becomes text. A failure while evaluating is a state_error CallFault carrying
the expression, so the executor can classify and recover from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from interpreter import ir
from interpreter.errors import CallFault, ErrorType
from interpreter.expressions import (
    ExpressionRuntimeError,
    MappingScope,
    evaluate_js,
    is_truthy,
    render_swml,
)
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import Utterance, Voice


def scope_of(call: dict[str, JSONValue], params: dict[str, JSONValue],
             variables: dict[str, JSONValue], envs: dict[str, JSONValue]) -> MappingScope:
    return MappingScope(call=call, params=params, vars=variables, envs=envs)


def render(value: ir.Templated, scope: MappingScope) -> JSONValue:
    """A compiled value with every template evaluated."""
    match value:
        case ir.SwmlText(source=source, template=template):
            try:
                return render_swml(template, scope)
            except ExpressionRuntimeError as error:
                raise CallFault(ErrorType.STATE_ERROR, f"{source}: {error}") from None
        case ir.SwaigText(source=source):
            return source  # SWAIG templates are rendered by the ai verb, not here
        case Mapping():
            return {str(key): render(item, scope) for key, item in value.items()}
        case tuple():
            return [render(item, scope) for item in value]
    return value


def render_text(value: ir.SwmlText | str | None, scope: MappingScope) -> str:
    if value is None:
        return ""
    rendered = render(value, scope)
    return "" if rendered is None else rendered if isinstance(rendered, str) else \
        text_of(rendered)


def text_of(value: JSONValue) -> str:
    """A value as JavaScript would print it into a string (containers as JSON)."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test(condition: ir.Js, scope: MappingScope) -> bool:
    try:
        return is_truthy(evaluate_js(condition.expr, scope))
    except ExpressionRuntimeError as error:
        raise CallFault(ErrorType.STATE_ERROR, f"{condition.source}: {error}") from None


def value_of(expression: ir.Js, scope: MappingScope) -> JSONValue:
    try:
        return evaluate_js(expression.expr, scope)
    except ExpressionRuntimeError as error:
        raise CallFault(ErrorType.STATE_ERROR, f"{expression.source}: {error}") from None


def utterances(items: tuple[ir.PlayItem, ...], scope: MappingScope, *,
               voice: Voice | None = None, volume_db: float = 0.0) -> list[Utterance]:
    """Play items with their templates rendered; a dynamic item is classified by
    the prefix its rendered text starts with."""
    out = []
    for item in items:
        text = render_text(item.value, scope)
        kind = item.kind
        if kind == "dynamic":
            kind = "url"
            for prefix in ("say:", "silence:", "ring:"):
                if text.startswith(prefix):
                    kind, text = prefix[:-1], text[len(prefix):]
        out.append(Utterance(kind, text, voice if kind == "say" else None,  # type: ignore[arg-type]
                             volume_db=volume_db))
    return out
