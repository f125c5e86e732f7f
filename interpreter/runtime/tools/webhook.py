"""Call a SWAIG webhook function: POST the request body, read the reply.

The request is the hosted platform's (the SWAIG function webhook request as
SignalWire documents it): the same fields in
the same order, Basic auth from the function's credentials. Two headers are
callkernel's own:

- `X-Callkernel-Request-Id`: one value per tool call. The agent loop owns
  retries and sends the same id again when it retries, so a webhook with side
  effects can recognise a repeat and answer it without doing the work twice.
- `X-Callkernel-Signature: sha256=<hex>`: only when a signing key is
  configured, the HMAC-SHA256 of the exact body bytes. SignalWire does not
  sign SWAIG posts; this lets a webhook reject requests that did not come
  from its interpreter (see docs/swaig-tools.md for verification).

Nothing here retries. Every failure is a `ToolFault`: `tool_timeout` when no
complete reply arrived in `function.timeout` seconds, `tool_error` for
everything else (with `status` when the server answered).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence

from interpreter import ir, limits
from interpreter.errors import ErrorType
from interpreter.http import HttpClient, HttpError, HttpRequest
from interpreter.ir import thaw
from interpreter.jsontypes import JSONValue, kind_of
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.limits import outside_json
from interpreter.runtime.tools.replies import parse_actions

MAX_REPLY_BYTES = limits.HTTP_REPLY_MAX_BYTES
REQUEST_ID_HEADER = "X-Callkernel-Request-Id"
SIGNATURE_HEADER = "X-Callkernel-Signature"


async def call_webhook(function: ir.Function, raw_arguments: str,
                       arguments: Mapping[str, JSONValue], context: ToolContext, *,
                       client: HttpClient, signing_key: bytes | None = None,
                       post_conversation: Sequence[JSONValue] | None = None,
                       request_id: str | None = None) -> ToolReply:
    """POST the SWAIG request for one tool call and parse the SWAIG reply.

    `raw_arguments` is the model's text, sent as `argument.raw`; `arguments`
    is what `parse_arguments` made of it. `post_conversation` is the call log
    (`swaig_post_conversation`). Pass the same `request_id` when retrying.
    """
    hook = function.webhook
    if hook is None:
        raise ToolFault(ErrorType.TOOL_ERROR, f"{function.name} has no webhook URL")
    body = json.dumps(request_body(function, raw_arguments, arguments, context,
                                   post_conversation),
                      ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json",
               REQUEST_ID_HEADER: request_id or str(uuid.uuid4())}
    if hook.user is not None or hook.password is not None:
        headers["Authorization"] = basic_auth(hook.user, hook.password)
    if signing_key is not None:
        digest = hmac.new(signing_key, body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    # Redirects are not followed: the body is signed and carries call data
    # for this one endpoint; a 3xx is reported like any other non-2xx.
    reply = await fetch_json(client, "POST", hook.url, headers=headers, body=body,
                             timeout=function.timeout, follow_redirects=False)
    return parse_reply(reply)


def request_body(function: ir.Function, raw_arguments: str,
                 arguments: Mapping[str, JSONValue], context: ToolContext,
                 post_conversation: Sequence[JSONValue] | None = None) -> dict[str, JSONValue]:
    """The SWAIG request body, keys in the order the platform sends them."""
    body: dict[str, JSONValue] = {
        "app_name": context.app_name,
        "function": function.name,
        "description": function.description,
        "argument": {"parsed": [dict(arguments)], "raw": raw_arguments},
        "argument_desc": thaw(function.parameters),
        "call_id": context.call_id,
        "ai_session_id": context.ai_session_id,
    }
    if context.global_data:
        body["global_data"] = dict(context.global_data)
    body["meta_data_token"] = meta_data_token(function)
    body["meta_data"] = meta_data(function, context)
    if context.caller_id_name is not None:
        body["caller_id_name"] = context.caller_id_name
    if context.caller_id_num is not None:
        body["caller_id_num"] = context.caller_id_num
    # The channel flags describe the live leg; a tool only runs while the AI
    # session is up, so they are always true here.
    body.update(channel_active=True, channel_offhook=True, channel_ready=True,
                content_type="text/swaig", content_disposition="SWAIG Function",
                version="2.0", conversation_type=context.conversation_type)
    if context.project_id is not None:
        body["project_id"] = context.project_id
    if context.space_id is not None:
        body["space_id"] = context.space_id
    if post_conversation is not None:
        body["call_log"] = list(post_conversation)
    return body


def meta_data_token(function: ir.Function) -> str:
    """The function's `meta_data_token`, else one derived from its URL, so
    functions on the same endpoint share a meta_data scope (SignalWire's SWAIG `meta_data`)."""
    if function.meta_data_token:
        return function.meta_data_token
    url = function.webhook.url if function.webhook is not None else function.name
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def meta_data(function: ir.Function, context: ToolContext) -> dict[str, JSONValue]:
    """The document's `meta_data` with the session's changes (set_meta_data) on top."""
    merged = thaw(function.meta_data)
    assert isinstance(merged, dict)
    merged.update(context.meta_data)
    return merged


def basic_auth(user: str | None, password: str | None) -> str:
    """An `Authorization: Basic` value. UTF-8, as RFC 7617 recommends; aiohttp's
    own helper (deprecated in 3.14, absent before 3.12) would use Latin-1."""
    if ":" in (user or ""):  # the first ":" separates user from password
        raise ToolFault(ErrorType.TOOL_ERROR, "the webhook user name cannot contain ':'")
    token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode("ascii")
    return f"Basic {token}"


# ------------------------------------------------------------------ transport

async def fetch_json(client: HttpClient, method: str, url: str, *,
                     headers: Mapping[str, str], body: bytes | None, timeout: float,
                     follow_redirects: bool) -> JSONValue:
    """One HTTP exchange whose 2xx reply must be JSON of at most MAX_REPLY_BYTES.

    Shared with data_map webhooks so both classify failures the same way.
    Messages never include the URL: it may carry an API key, and the message
    reaches the model and the trace.
    """
    request = HttpRequest(method, url, headers, body, timeout=timeout,
                          follow_redirects=follow_redirects, max_bytes=MAX_REPLY_BYTES)
    try:
        response = await client.send(request)
    except HttpError as error:
        if error.kind == "timeout":
            raise ToolFault(ErrorType.TOOL_TIMEOUT,
                            f"the webhook did not reply within {timeout:g} seconds") from None
        if error.kind == "too_large":
            raise ToolFault(ErrorType.TOOL_ERROR, f"the webhook reply is {error}",
                            status=error.status) from None
        raise ToolFault(ErrorType.TOOL_ERROR,
                        f"the webhook could not be reached ({error})") from None
    if not response.ok:
        raise ToolFault(ErrorType.TOOL_ERROR, f"the webhook answered HTTP {response.status}",
                        status=response.status)
    try:
        return outside_json(response.body)
    except ValueError as error:
        raise ToolFault(ErrorType.TOOL_ERROR, f"the webhook reply is not JSON ({error})",
                        status=response.status) from None


def _no_constant(name: str) -> JSONValue:
    raise ValueError(f"{name} is not JSON")


# ------------------------------------------------------------------ reply

def parse_reply(reply: JSONValue) -> ToolReply:
    """A SWAIG function result as a ToolReply; every field optional, `{}` included."""
    if not isinstance(reply, dict):
        raise ToolFault(ErrorType.TOOL_ERROR,
                        f"the webhook reply must be a JSON object, not {kind_of(reply)}")
    response, tool_prompt = _response(reply.get("response"))
    return ToolReply(response, tool_prompt, parse_actions(_actions(reply.get("action"))),
                     _post_process(reply.get("post_process")), raw=reply)


def _response(value: JSONValue) -> tuple[str | None, str | None]:
    if value is None or isinstance(value, str):
        return value, None
    if isinstance(value, dict):
        result, prompt = value.get("tool_result"), value.get("tool_prompt")
        if (result is None or isinstance(result, str)) and \
                (prompt is None or isinstance(prompt, str)):
            return result, prompt
    raise ToolFault(ErrorType.TOOL_ERROR, "the reply's response must be a string or "
                    "an object with string tool_result and tool_prompt")


def _actions(value: JSONValue) -> tuple[Mapping[str, JSONValue], ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        return (value,)
    if isinstance(value, list):
        bad = next((item for item in value if not isinstance(item, dict)), None)
        if bad is None:
            return tuple(item for item in value if isinstance(item, dict))
        raise ToolFault(ErrorType.TOOL_ERROR,
                        f"every action must be a JSON object, not {kind_of(bad)}")
    raise ToolFault(ErrorType.TOOL_ERROR,
                    f"the reply's action must be an object or a list, not {kind_of(value)}")


def _post_process(value: JSONValue) -> bool:
    # The SDK serialises some booleans as "true"/"false"; both are accepted.
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ToolFault(ErrorType.TOOL_ERROR, "the reply's post_process must be true or false")

