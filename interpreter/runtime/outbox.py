"""Post-call work: what leaves a call after it ended, off the call actor.

When an ai session ends, its post_prompt summary is not generated or posted
by the call: the session hands a `Delivery` (the summary request and the
`post_prompt_url` payload without the summary) to the call, and the call
hands it to the host's `Outbox` when it ends. A transfer the model asked for therefore starts
in the same tick as the tool's reply, whatever the summary endpoint does.

`MemoryOutbox` is the in-process implementation: it generates the summary,
POSTs it with an `Idempotency-Key` (the same on every attempt, so a receiver
can drop a repeat), retries with back-off, and keeps a result per delivery.
It lives in memory: a process that dies loses what it had not delivered. A
durable outbox (the server's, in its store) is another implementation of the
same port.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from interpreter.http import AiohttpClient, HttpClient, HttpError, HttpRequest
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import LlmError, LlmProvider, LlmRequest, TextDelta
from interpreter.runtime.tools.limits import outside_json

DELIVERY_ATTEMPTS = 4
DELIVERY_TIMEOUT = 10.0
SUMMARY_TIMEOUT = 60.0
FIRST_BACKOFF = 0.5  # seconds, doubled after each failed attempt
IDEMPOTENCY_HEADER = "Idempotency-Key"
WEBHOOK_ID_HEADER = "webhook-id"  # the signed requests' message id (interpreter/signing.py)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One post-call message: the summary generated with `summary` (if any)
    goes into `body["post_prompt_data"]`, then `body` is POSTed to `url`
    (None: the summary is only kept in the outbox's results)."""

    call_id: str
    kind: str  # "post_prompt" | "status"
    key: str  # the idempotency key: unique per delivery, the same on retries
    url: str | None
    body: Mapping[str, JSONValue]
    headers: Mapping[str, str] = field(default_factory=dict)
    summary: LlmRequest | None = None
    llm: LlmProvider | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    call_id: str
    kind: str
    key: str
    url: str | None
    state: str  # "delivered" | "given_up" | "kept" (no url)
    attempts: int
    summary: str | None
    error: str = ""
    status: int | None = None


class Outbox(Protocol):
    """Where a call's post-call work goes when the call ends."""

    def submit(self, delivery: Delivery) -> None: ...


class MemoryOutbox:
    """Delivers in background tasks on the running loop; `drain()` waits for them."""

    def __init__(self, http: HttpClient | None = None, *,
                 attempts: int = DELIVERY_ATTEMPTS, first_backoff: float = FIRST_BACKOFF) -> None:
        self.results: list[DeliveryResult] = []
        self._own_http = AiohttpClient() if http is None else None
        self._http: HttpClient = http or self._own_http  # type: ignore[assignment]
        self._attempts = attempts
        self._first_backoff = first_backoff
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery),
                                                      name=f"outbox:{delivery.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every submitted delivery is delivered or given up."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        await self.drain()
        if self._own_http is not None:
            await self._own_http.close()

    async def _deliver(self, delivery: Delivery) -> None:
        text = await summarize(delivery) if delivery.summary is not None else None
        body = with_summary(delivery.body, text) if delivery.summary is not None \
            else dict(delivery.body)
        if delivery.url is None:
            self._done(delivery, "kept", 0, text)
            return
        outcome = Attempt(False)
        for attempt in range(1, self._attempts + 1):
            outcome = await post(self._http, delivery.url, body, delivery.headers, delivery.key)
            if outcome.ok:
                self._done(delivery, "delivered", attempt, text, status=outcome.status)
                return
            if attempt < self._attempts:
                await asyncio.sleep(self._first_backoff * 2 ** (attempt - 1))
        self._done(delivery, "given_up", self._attempts, text, error=outcome.problem,
                   status=outcome.status)

    def _done(self, delivery: Delivery, state: str, attempts: int, summary: str | None, *,
              error: str = "", status: int | None = None) -> None:
        self.results.append(DeliveryResult(delivery.call_id, delivery.kind, delivery.key,
                                           delivery.url, state, attempts, summary, error,
                                           status))


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one POST of a delivery went."""

    ok: bool
    status: int | None = None
    problem: str = ""  # why it failed: "HTTP 503", "timeout: ..."
    # The destination policy refused the URL: trying again changes nothing
    # until the operator allows it (then a retry by hand sends it).
    refused: bool = False


async def post(http: HttpClient, url: str, body: Mapping[str, JSONValue],
               headers: Mapping[str, str], key: str) -> Attempt:
    """POST a delivery's body once, with its idempotency key."""
    # Every attempt carries the same idempotency key, and (when the host
    # signs requests) the same webhook-id, so a receiver can drop a repeat
    # by either.
    request = HttpRequest.json("POST", url, dict(body),
                               headers={**headers, IDEMPOTENCY_HEADER: key,
                                        WEBHOOK_ID_HEADER: webhook_id(key)},
                               timeout=DELIVERY_TIMEOUT)
    try:
        response = await http.send(request)
    except HttpError as error:
        # The message usually says its kind already ("... refused: ..."): once.
        said = str(error) if error.kind in str(error) else f"{error.kind}: {error}"
        return Attempt(False, problem=said, refused=error.kind == "refused")
    if response.ok:
        return Attempt(True, response.status)
    return Attempt(False, response.status, f"HTTP {response.status}")


def webhook_id(key: str) -> str:
    """A delivery's message id: its key, in the characters webhook-id allows."""
    return "msg_" + re.sub(r"[^A-Za-z0-9_-]", "_", key)[:124]


def with_summary(body: Mapping[str, JSONValue], summary: str | None) -> dict[str, JSONValue]:
    """The body with the summary as `post_prompt_data`, raw and parsed."""
    return {**body, "post_prompt_data": {"raw": summary or "", "parsed": _parsed(summary)}}


async def summarize(delivery: Delivery) -> str | None:
    """The summary text, or None when the model failed (the payload still goes)."""
    if delivery.summary is None or delivery.llm is None:
        return None
    return await generate(delivery.llm, delivery.summary)


async def generate(llm: LlmProvider, request: LlmRequest) -> str | None:
    """The model's text for `request`; None when it failed or took too long."""
    text = ""
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT):
            async for item in llm.stream(request):
                if isinstance(item, TextDelta):
                    text += item.text
    except (LlmError, TimeoutError):
        return None
    return text


def _parsed(summary: str | None) -> list[JSONValue]:
    if not summary:
        return []
    try:
        return [outside_json(summary)]
    except ValueError:
        return []

