"""The tool-runner port: what runs a SWAIG function the model called.

`SwaigRunner` is production: a data_map function runs its requests and
expressions, any other calls its webhook, through the call's HTTP client.
`MockRunner` answers named functions with canned outcomes (flow tests,
examples) and hands the rest to another runner; a mock slower than the
function's timeout is a tool_timeout, as a real webhook would be. The ai loop
only sees the port: no test machinery sits in its path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.http import HttpClient
from interpreter.jsontypes import JSONValue
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.data_map import run_data_map
from interpreter.runtime.tools.replies import parse_actions
from interpreter.runtime.tools.webhook import call_webhook


class ToolRunner(Protocol):
    def source(self, function: ir.Function) -> str:
        """What answers this function: "webhook", "data_map" or "mock"."""

    async def run(self, function: ir.Function, raw_arguments: str,
                  arguments: Mapping[str, JSONValue], context: ToolContext, *,
                  client: HttpClient, request_id: str) -> ToolReply:
        """The reply, or ToolFault."""


# The environment variable holding the key outbound webhook bodies are signed
# with (X-Callkernel-Signature); unset, requests are not signed.
SIGNING_KEY_VARIABLE = "CALLKERNEL_WEBHOOK_SIGNING_KEY"


class SwaigRunner:
    """Webhooks and data_maps; `signing_key` (default: the environment's
    CALLKERNEL_WEBHOOK_SIGNING_KEY) signs webhook bodies."""

    def __init__(self, signing_key: bytes | None = None) -> None:
        key = os.environ.get(SIGNING_KEY_VARIABLE, "")
        self.signing_key = signing_key if signing_key is not None else \
            key.encode() if key else None

    def source(self, function: ir.Function) -> str:
        return "data_map" if function.data_map is not None else "webhook"

    async def run(self, function: ir.Function, raw_arguments: str,
                  arguments: Mapping[str, JSONValue], context: ToolContext, *,
                  client: HttpClient, request_id: str) -> ToolReply:
        if function.data_map is not None:
            return await run_data_map(function, arguments, context, client=client)
        return await call_webhook(function, raw_arguments, arguments, context, client=client,
                                  request_id=request_id, post_conversation=context.call_log,
                                  signing_key=self.signing_key)


@dataclass(frozen=True, slots=True)
class ToolMock:
    """A canned tool outcome: a reply after `delay` seconds, or a failure."""

    response: str = "Action completed."
    actions: tuple[Mapping[str, JSONValue], ...] = ()
    delay: float = 0.0
    fail: ErrorType | None = None


class MockRunner:
    """Mocked functions answer from `mocks`; the others go to `fallback`."""

    def __init__(self, mocks: Mapping[str, ToolMock],
                 fallback: ToolRunner | None = None) -> None:
        self.mocks = dict(mocks)
        self.fallback: ToolRunner = fallback or SwaigRunner()

    def source(self, function: ir.Function) -> str:
        return "mock" if function.name in self.mocks else self.fallback.source(function)

    async def run(self, function: ir.Function, raw_arguments: str,
                  arguments: Mapping[str, JSONValue], context: ToolContext, *,
                  client: HttpClient, request_id: str) -> ToolReply:
        mock = self.mocks.get(function.name)
        if mock is None:
            return await self.fallback.run(function, raw_arguments, arguments, context,
                                           client=client, request_id=request_id)
        if function.timeout > 0 and mock.delay > function.timeout:
            await asyncio.sleep(function.timeout)
            raise ToolFault(ErrorType.TOOL_TIMEOUT,
                            f"the webhook did not reply within {function.timeout:g} seconds")
        if mock.delay:
            await asyncio.sleep(mock.delay)
        if mock.fail is not None:
            raise ToolFault(mock.fail, f"{function.name} failed (mocked {mock.fail.value})")
        return ToolReply(mock.response, None, parse_actions(mock.actions))
