"""Telephony media streams on the server: the provider's WebSocket
(transports/media_stream/) wired to the server's routing, call records and
tokens.

A phone number at a provider points its media stream at
`wss://HOST/v1/media/<dialect>`. The socket authenticates itself (a
provider cannot send our header on every hop): it brings an API token with
the `calls` scope as a bearer header, a `token` query parameter or the
custom parameter `callkernel_token`. The flow is the one the custom
parameter `callkernel_flow` names, if any (the token may start any flow, as
over REST); else the routing table picks it by the number called and the
stream's custom parameters. The call is recorded in the store before it
starts, appears in `GET /v1/calls`, can be followed and steered, and is
drained at shutdown like any other.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from aiohttp import web

from interpreter.jsontypes import JSONValue
from interpreter.media.ports import Telephony
from interpreter.runtime.call import Call
from interpreter.server.auth import STORE, allows, authenticate, authenticates_itself
from interpreter.server.call_registry import CallRegistry, ShuttingDown, TooManyCalls
from interpreter.server.problems import Problem
from interpreter.server.remote_flows import (
    CallFlow,
    FlowFailure,
    FlowProblem,
    RemoteFlows,
    flow_for_call,
)
from interpreter.server.store import Conflict, NotFound, Scope, StoreError
from interpreter.transports.media_stream.call_control import ProviderCredentials
from interpreter.transports.media_stream.server import (
    PREFIX,
    CallNotStarted,
    Handler,
    MakeChannel,
    add_routes,
)

__all__ = ["FLOW_PARAMETER", "PREFIX", "mount"]

LOGGER = logging.getLogger("callkernel.server.media")
# The custom parameter that names the flow, as `flow` does in POST /v1/calls.
FLOW_PARAMETER = "callkernel_flow"


# Each provider's REST credentials, for transfers (call_control.py): secrets,
# so read from the environment only — never flags (the process list) or the
# config file. (token, account or project id, SignalWire space) variables.
PROVIDER_VARIABLES = {
    "twilio": ("CALLKERNEL_TWILIO_AUTH_TOKEN", "CALLKERNEL_TWILIO_ACCOUNT_SID", ""),
    "signalwire": ("CALLKERNEL_SIGNALWIRE_TOKEN", "CALLKERNEL_SIGNALWIRE_PROJECT",
                   "CALLKERNEL_SIGNALWIRE_SPACE"),
    "telnyx": ("CALLKERNEL_TELNYX_API_KEY", "", ""),
}


def provider_credentials(environ: Mapping[str, str]) -> dict[str, ProviderCredentials]:
    """The providers whose credentials the environment holds."""
    held = {}
    for dialect, (token, account, space) in PROVIDER_VARIABLES.items():
        if environ.get(token):
            held[dialect] = ProviderCredentials(
                environ[token], environ.get(account, "") if account else "",
                environ.get(space, "") if space else "")
    return held


def mount(app: web.Application, registry: CallRegistry, remote: RemoteFlows,
          credentials: Mapping[str, ProviderCredentials] | None = None) -> list[Handler]:
    """Mount the media sockets on `app`; the handlers (they authenticate
    themselves: server/auth.py lets them through). `credentials`: the
    providers whose REST APIs carry transfers."""

    async def authorize(secret: str) -> bool:
        try:
            token = await authenticate(app[STORE], f"Bearer {secret}")
        except Problem:
            return False
        return allows(token, Scope.CALLS)

    async def start(parameters: Mapping[str, str], details: dict[str, JSONValue],
                    make_channel: MakeChannel, telephony: Telephony) -> Call:
        named = parameters.get(FLOW_PARAMETER) or None
        routing = {k: v for k, v in parameters.items() if k != FLOW_PARAMETER}
        call_id = registry.new_call_id()
        try:
            chosen = await flow_for_call(registry.store, registry.host.http, remote, named,
                                         {"call_id": call_id, **details}, params=routing)
        except (NotFound, Conflict) as error:  # only a named flow raises
            raise CallNotStarted(f"flow {named!r}: {error}") from None
        if not chosen.problems and registry.lacks_model(chosen.flow):
            chosen = await _without_model(chosen)
        try:
            return await registry.start_on(chosen, lambda: (make_channel(chosen.flow),
                                                            telephony), details,
                                           audio=True, call_id=call_id)
        except (ShuttingDown, TooManyCalls) as error:
            raise CallNotStarted(str(error), try_later=True) from None
        except StoreError as error:
            raise CallNotStarted(f"the store could not record the call: {error}") from None

    async def _without_model(chosen: CallFlow) -> CallFlow:
        # A caller is on the line: the apology, not a silent hang-up (a REST
        # start is refused instead, 400).
        problem = FlowProblem(FlowFailure.NO_MODEL, f"flow {chosen.name!r} has an ai verb "
                              "and this server has no model: start it with --llm openai "
                              "or --model-rules FILE (docs/operations.md)", chosen.name)
        LOGGER.warning("media stream call: %s", problem.message)
        return dataclasses.replace(chosen, flow=await remote.apology(problem),
                                   problems=(problem,))

    handlers = add_routes(app, lambda _: registry.host, start, authorize=authorize,
                          credentials=credentials)
    return [authenticates_itself(handler, Scope.CALLS) for handler in handlers]
