"""Run a data_map function in-process (SignalWire's SWAIG `data_map`).

The first output produced wins, like a return statement: the data_map's
expressions, then its webhooks in order (the first that succeeds runs its
foreach, expressions and output), then the data_map's own `output`. A
webhook that fails (no reply in time, transport error, non-2xx, non-JSON, a
truthy error key) hands over to the next one. The chosen output is rendered
against the template roots and returned as a `ToolReply`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime

from yarl import URL

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.expressions import ExpressionRuntimeError, SwaigScope, render_swaig
from interpreter.http import HttpClient
from interpreter.jsontypes import JSONValue
from interpreter.patterns import PatternTimeout
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.replies import parse_actions
from interpreter.runtime.tools.webhook import basic_auth, fetch_json, meta_data

Roots = dict[str, JSONValue]


async def run_data_map(function: ir.Function, arguments: Mapping[str, JSONValue],
                       context: ToolContext, *, client: HttpClient,
                       now: datetime | None = None) -> ToolReply:
    """Produce the function's reply from its data_map; `now` feeds @{strftime_tz}."""
    data_map = function.data_map
    if data_map is None:
        raise ToolFault(ErrorType.TOOL_ERROR, f"{function.name} has no data_map")
    roots = _roots(function, arguments, context)
    output = _first_output(data_map.expressions, roots, now)
    failure: ToolFault | None = None
    tried = 0
    requests: list[dict[str, JSONValue]] = []
    if output is None:
        for hook in data_map.webhooks:
            if any(arguments.get(name) is None for name in hook.require_args):
                continue
            tried += 1
            shown = {"method": hook.method, "url": _shown(hook.url, roots, now)}
            try:
                reply = await _call(hook, function, arguments, roots, now, client,
                                    data_map.error_keys)
            except ToolFault as fault:
                failure = fault
                requests.append({**shown, "status": fault.status, "error": fault.detail})
                continue
            requests.append({**shown, "status": 200})
            # The first webhook that succeeds decides; if it yields no output the
            # data_map's own output (rendered with its reply in scope) applies.
            failure = None
            roots = _reply_roots(roots, reply)
            if hook.foreach is not None:
                _foreach(hook.foreach, reply, roots, now)
            output = _first_output(hook.expressions, roots, now) or hook.output
            break
    output = output or data_map.output
    if output is not None:
        return dataclasses.replace(_reply(output, SwaigScope(roots, now)),
                                   requests=tuple(requests))
    if failure is not None:
        raise ToolFault(failure.error_type, f"{failure.detail} (no fallback output)",
                        status=failure.status, attempts=tried, requests=tuple(requests))
    raise ToolFault(ErrorType.TOOL_ERROR, "no output", attempts=max(tried, 1),
                    requests=tuple(requests))


def _shown(url: ir.SwaigText, roots: Roots, now: datetime | None) -> str:
    """The request's URL as a trace may show it: scheme, host, port and path;
    never credentials or the query (API keys live there)."""
    try:
        rendered = URL(_text(url, SwaigScope(roots, now)))
    except (ToolFault, ValueError):
        return "(unrenderable URL)"
    return str(rendered.with_user(None).with_query(None).with_fragment(None))


def _roots(function: ir.Function, arguments: Mapping[str, JSONValue],
           context: ToolContext) -> Roots:
    args = dict(arguments)
    # Arguments are also roots by bare name (SDK examples write ${location});
    # they come first so the named roots below win over a same-named argument.
    roots: Roots = dict(args)
    roots.update(args=args, input={"args": args}, global_data=dict(context.global_data),
                 meta_data=meta_data(function, context), call_id=context.call_id,
                 ai_session_id=context.ai_session_id, function=function.name,
                 app_name=context.app_name, conversation_type=context.conversation_type)
    for name in ("caller_id_name", "caller_id_num", "project_id", "space_id"):
        value = getattr(context, name)
        if value is not None:
            roots[name] = value
    return roots


def _first_output(expressions: tuple[ir.DataMapExpression, ...], roots: Roots,
                  now: datetime | None) -> ir.Output | None:
    scope = SwaigScope(roots, now)
    for expression in expressions:
        # search: PCRE semantics, the pattern may match anywhere. An empty
        # string still matches a catch-all such as `.*`.
        try:
            matched = expression.pattern.search(_text(expression.string, scope))
        except PatternTimeout as timeout:
            # Neither output can be trusted: the tool fails (the model hears a
            # tool_error) rather than answer as if the text did not match.
            raise ToolFault(ErrorType.TOOL_ERROR, f"data_map expression: {timeout}") from None
        if matched:
            return expression.output
        if expression.nomatch_output is not None:
            return expression.nomatch_output
    return None


async def _call(hook: ir.DataMapWebhook, function: ir.Function,
                arguments: Mapping[str, JSONValue], roots: Roots, now: datetime | None,
                client: HttpClient, data_map_error_keys: tuple[str, ...],
                ) -> JSONValue:
    scope = SwaigScope(roots, now)
    # No automatic URL-encoding: templates say where they want it (${enc:url:...}).
    url = _text(hook.url, scope)
    headers = {name: _text(value, scope) for name, value in hook.headers}
    present = {name.lower() for name in headers}
    params = _render(hook.params, scope) if hook.params is not None else None
    if hook.input_args_as_params:
        # The document's own params win over a same-named argument: the model
        # must not be able to replace, say, an API key the author put there.
        params = {**arguments, **params} if isinstance(params, dict) \
            else dict(arguments) if params is None else params
    body = None
    if params is not None or hook.method == "POST":
        body = json.dumps({} if params is None else params, ensure_ascii=False).encode()
        if "content-type" not in present:
            headers["Content-Type"] = "application/json"
    if (hook.user is not None or hook.password is not None) and "authorization" not in present:
        headers["Authorization"] = basic_auth(hook.user, hook.password)
    # Redirects are followed (aiohttp drops credentials on a cross-origin hop):
    # these are third-party APIs, which may move.
    reply = await fetch_json(client, hook.method, url, headers=headers, body=body,
                             timeout=function.timeout, follow_redirects=True)
    if isinstance(reply, dict):
        for key in (*hook.error_keys, *data_map_error_keys):
            if _truthy(reply.get(key)):
                raise ToolFault(ErrorType.TOOL_ERROR, f'the webhook reply has "{key}" set')
    return reply


def _truthy(value: JSONValue) -> bool:
    # Python's notion, not JavaScript's: an empty error object or list is no error.
    return bool(value)


def _reply_roots(roots: Roots, reply: JSONValue) -> Roots:
    """The reply's top-level keys become roots; `response` is the whole reply
    (the SDK's ${response.x}) unless the reply has its own `response` key."""
    merged = dict(roots)
    if isinstance(reply, dict):
        merged.update(reply)
        merged.setdefault("response", reply)
    else:
        if isinstance(reply, list):
            merged["array"] = reply
        merged["response"] = reply
    return merged


def _foreach(foreach: ir.Foreach, reply: JSONValue, roots: Roots,
             now: datetime | None) -> None:
    items = _lookup(reply, foreach.input_key)
    elements = items if isinstance(items, list) else []
    if foreach.max is not None:
        elements = elements[:max(foreach.max, 0)]
    each = dict(roots)
    scope = SwaigScope(each, now)
    parts = []
    for element in elements:
        each["this"] = element
        parts.append(_text(foreach.append, scope))
    roots[foreach.output_key] = "".join(parts)


def _lookup(value: JSONValue, key: str) -> JSONValue:
    """`input_key` names a top-level key, or a dotted path to a nested one."""
    if isinstance(value, dict) and key in value:
        return value[key]
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# ------------------------------------------------------------------ rendering

def _reply(output: ir.Output, scope: SwaigScope) -> ToolReply:
    response = _text(output.response, scope) if output.response is not None else None
    prompt = _text(output.tool_prompt, scope) if output.tool_prompt is not None else None
    actions: list[dict[str, JSONValue]] = []
    for action in output.actions:
        value = _render(action, scope)
        if not isinstance(value, dict):
            raise ToolFault(ErrorType.TOOL_ERROR, "every data_map action must be an object")
        actions.append(value)
    raw: dict[str, JSONValue] = {}
    if response is not None:
        raw["response"] = response if prompt is None \
            else {"tool_result": response, "tool_prompt": prompt}
    if actions:
        raw["action"] = list[JSONValue](actions)
    if output.post_process:
        raw["post_process"] = True
    return ToolReply(response, prompt, parse_actions(tuple(actions)), output.post_process,
                     raw=raw)


def _render(value: ir.Templated, scope: SwaigScope) -> JSONValue:
    """Render SWAIG templates anywhere in a value. Calling-SWML text is left as
    written: the executor renders it when it runs the SWML action."""
    match value:
        case ir.SwaigText():
            return _text(value, scope)
        case ir.SwmlText():
            return value.source
        case tuple():
            return [_render(item, scope) for item in value]
        case Mapping():
            return {key: _render(item, scope) for key, item in value.items()}
    return value


def _text(text: ir.SwaigText, scope: SwaigScope) -> str:
    try:
        return render_swaig(text.template, scope)
    except ExpressionRuntimeError as error:
        raise ToolFault(ErrorType.TOOL_ERROR,
                        f"a data_map template could not be rendered: {error}") from None
