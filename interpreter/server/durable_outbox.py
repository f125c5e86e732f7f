"""The server's outbox: post-call deliveries kept in the store until delivered.

`StoreOutbox` implements the runtime's `Outbox` port (runtime/outbox.py) on
the server's `Store`. A call that ends hands its deliveries over; each is
written to the store before anything is attempted, so once accepted it
survives a restart or a kill -9. A worker then generates the summary (stored
the first time, so every attempt sends the same one), POSTs the body with
its idempotency key and records each attempt: delivered on a 2xx, otherwise
pending again after an exponential back-off with jitter, and failed after
the last attempt (at once when the destination policy refuses the URL:
waiting changes nothing there). A failed delivery can be retried by hand (REST
`POST /v1/outbox/{key}/retry`), which gives it a new round of attempts.

At least once: an attempt cut off by a crash or a shutdown is not recorded,
so it is made again; the receiver drops a repeat by its idempotency key.

The summary model: a delivery names the host's provider it came from, so a
restarted server generates a summary still owed with that provider. A call's
own model (the scripted rules given when starting a call over REST) does not
outlive the process: a summary owed to such a call after a restart is sent
empty, and the delivery says why (`last_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from interpreter.http import HttpClient
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ChatMessage, LlmProvider, LlmRequest
from interpreter.runtime.outbox import Delivery, generate, post, with_summary
from interpreter.server.store import DeliveryState, Store, StoredDelivery, StoreError

LOGGER = logging.getLogger("callkernel.server.outbox")

ATTEMPTS = 12
FIRST_BACKOFF = 1.0  # seconds, doubled after each failed attempt ...
MAX_BACKOFF = 600.0  # ... up to this: 12 attempts span about 37 minutes
JITTER = 0.1  # each wait is stretched or shrunk by up to this share
CONCURRENCY = 32  # deliveries attempted at once
NOT_SUMMARIZED = "summary not generated"
NO_MODEL = f"{NOT_SUMMARIZED}: the call's own model does not outlive a restart"


class StoreOutbox:
    """Deliveries in the store, attempted by one worker task on the loop.

    `start(http, providers)` once the host's HTTP client exists (the host
    makes it when it starts); `close()` stops the worker, leaving what is
    not delivered pending in the store for the next start."""

    def __init__(self, store: Store, *, attempts: int = ATTEMPTS,
                 first_backoff: float = FIRST_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 concurrency: int = CONCURRENCY,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._attempts = attempts
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._concurrency = concurrency
        self._clock = clock
        self._http: HttpClient | None = None
        self._providers: Mapping[str, LlmProvider] = {}
        # The models of deliveries accepted by this process, by key: a call's
        # own model is not in the host's providers.
        self._models: dict[str, LlmProvider] = {}
        self._accepting: set[asyncio.Task[None]] = set()
        self._attempting: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._pending = 0

    # ------------------------------------------------------------ life

    async def start(self, http: HttpClient, providers: Mapping[str, LlmProvider]) -> None:
        """Begin delivering, starting with what the store holds from before."""
        self._http = http
        self._providers = providers
        self._pending = await self._store.pending_deliveries()
        self._worker = asyncio.get_running_loop().create_task(self._work(),
                                                              name="outbox-worker")

    async def flush(self, timeout: float) -> None:
        """Wait until the deliveries handed over are stored, then up to
        `timeout` seconds for the ones due now to be attempted."""
        while self._accepting:
            await asyncio.wait(set(self._accepting))
        deadline = asyncio.get_running_loop().time() + timeout
        while self._attempting or await self._store.due_deliveries(self._clock(), limit=1):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._wake.set()
            await asyncio.sleep(min(0.05, left))

    async def close(self) -> None:
        while self._accepting:
            await asyncio.wait(set(self._accepting))
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        attempts = list(self._attempting.values())
        for task in attempts:
            task.cancel()  # not recorded: pending in the store, attempted again
        await asyncio.gather(*attempts, return_exceptions=True)

    # ------------------------------------------------------------ the port

    def submit(self, delivery: Delivery) -> None:
        """Accept a call's delivery: stored at once, in a task (the call's end
        does not wait on the disk)."""
        stored = _stored(delivery, self._provider_name(delivery.llm), self._clock())
        if delivery.llm is not None:
            self._models[delivery.key] = delivery.llm
        task = asyncio.get_running_loop().create_task(self._accept(stored),
                                                      name=f"outbox-accept:{delivery.key}")
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)

    def pending(self) -> int:
        """Deliveries not yet delivered or failed (the metrics' outbox depth): as
        the store said when the worker last looked, plus those being stored."""
        return self._pending + len(self._accepting)

    async def retry(self, key: str) -> StoredDelivery:
        """Make a failed (or pending) delivery due now, with a new round of
        attempts. NotFound; ValueError for one delivered or kept."""
        delivery = await self._store.delivery(key)
        if delivery.state in (DeliveryState.DELIVERED, DeliveryState.KEPT):
            raise ValueError(f"delivery {key} is {delivery.state.value}; only a pending or "
                             "failed one can be retried")
        again = replace(delivery, state=DeliveryState.PENDING, attempts=0,
                        next_attempt_at=self._clock(), updated_at=self._clock())
        await self._store.update_delivery(again)
        await self._recount()
        self._wake.set()
        return again

    # ------------------------------------------------------------ the worker

    async def _accept(self, delivery: StoredDelivery) -> None:
        try:
            await self._store.add_delivery(delivery)
        except StoreError:
            # Nothing else can keep it: say so loudly, with the key.
            LOGGER.exception("outbox could not store a delivery", extra={"fields": {
                "key": delivery.key, "call_id": delivery.call_id}})
            return
        self._pending += 1  # until the worker counts again
        self._wake.set()

    async def _recount(self) -> None:
        """Read the pending count from the store: the truth, whoever changed it."""
        self._pending = await self._store.pending_deliveries()

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock()
            try:
                await self._recount()
                await self._start_due(now)
                after = await self._store.next_due(now)
            except StoreError:
                LOGGER.exception("outbox could not read the store; trying again in 1 s")
                after = now + 1.0
            timeout = None if after is None else max(after - self._clock(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _start_due(self, now: float) -> None:
        room = self._concurrency - len(self._attempting)
        if room <= 0:
            return
        due = await self._store.due_deliveries(now, limit=room + len(self._attempting))
        for delivery in [d for d in due if d.key not in self._attempting][:room]:
            task = asyncio.get_running_loop().create_task(
                self._attempt(delivery), name=f"outbox:{delivery.key}")
            self._attempting[delivery.key] = task
            task.add_done_callback(functools.partial(self._attempted, delivery.key))

    def _attempted(self, key: str, _: asyncio.Task[None]) -> None:
        self._attempting.pop(key, None)
        self._wake.set()

    async def _attempt(self, delivery: StoredDelivery) -> None:
        try:
            await self._deliver(delivery)
        except StoreError:
            # The attempt is not recorded, so the delivery stays due: it is
            # made again once the store answers.
            LOGGER.exception("outbox could not record an attempt", extra={"fields": {
                "key": delivery.key, "call_id": delivery.call_id}})

    async def _deliver(self, delivery: StoredDelivery) -> None:
        assert self._http is not None
        if delivery.summary_request is not None and delivery.summary is None:
            delivery = await self._summarize(delivery)
        body: dict[str, JSONValue] = json.loads(delivery.body)
        if delivery.summary_request is not None:
            body = with_summary(body, delivery.summary)
        if delivery.url is None:
            await self._finish(replace(delivery, state=DeliveryState.KEPT))
            return
        outcome = await post(self._http, delivery.url, body, json.loads(delivery.headers),
                             delivery.key)
        attempts = delivery.attempts + 1
        # A delivered one keeps only a problem that is still true of what was
        # sent (its summary could not be generated); earlier attempts' go.
        kept_note = delivery.last_error if delivery.last_error.startswith(NOT_SUMMARIZED) \
            else ""
        tried = replace(delivery, attempts=attempts, last_status=outcome.status,
                        last_error=outcome.problem or kept_note, updated_at=self._clock())
        if outcome.ok:
            await self._finish(replace(tried, state=DeliveryState.DELIVERED))
        elif attempts >= self._attempts or outcome.refused:
            LOGGER.warning("outbox gave up a delivery", extra={"fields": {
                "key": delivery.key, "call_id": delivery.call_id, "attempts": attempts,
                "error": outcome.problem}})
            await self._finish(replace(tried, state=DeliveryState.FAILED))
        else:
            await self._store.update_delivery(
                replace(tried, next_attempt_at=self._clock() + self._backoff(attempts)))

    async def _summarize(self, delivery: StoredDelivery) -> StoredDelivery:
        assert delivery.summary_request is not None
        model = self._models.get(delivery.key) or (
            self._providers.get(delivery.llm) if delivery.llm is not None else None)
        if model is None:
            summary, problem = "", NO_MODEL
        else:
            text = await generate(model, request_from_json(delivery.summary_request))
            summary, problem = text or "", "" if text is not None else \
                f"{NOT_SUMMARIZED}: the model failed or took too long"
        summarized = replace(delivery, summary=summary, last_error=problem,
                             updated_at=self._clock())
        await self._store.update_delivery(summarized)
        return summarized

    async def _finish(self, delivery: StoredDelivery) -> None:
        await self._store.update_delivery(replace(delivery, updated_at=self._clock()))
        self._models.pop(delivery.key, None)
        self._pending = max(self._pending - 1, 0)  # until the worker counts again

    def _backoff(self, attempts: int) -> float:
        wait = min(self._first_backoff * 2.0 ** (attempts - 1), self._max_backoff)
        return wait * random.uniform(1 - JITTER, 1 + JITTER)

    def _provider_name(self, llm: LlmProvider | None) -> str | None:
        for name, provider in self._providers.items():
            if provider is llm:
                return name
        return None


# ------------------------------------------------------------ stored form

def _stored(delivery: Delivery, llm: str | None, now: float) -> StoredDelivery:
    return StoredDelivery(
        key=delivery.key, call_id=delivery.call_id, kind=delivery.kind, url=delivery.url,
        body=json.dumps(delivery.body, ensure_ascii=False, default=str),
        headers=json.dumps(dict(delivery.headers)), created_at=now,
        summary_request=None if delivery.summary is None else request_json(delivery.summary),
        llm=llm, next_attempt_at=now, updated_at=now)


def request_json(request: LlmRequest) -> str:
    """A summary request as JSON text (a summary has no tools to keep)."""
    return json.dumps({
        "messages": [{"role": m.role, "content": m.content, "interrupted": m.interrupted}
                     for m in request.messages],
        "temperature": request.temperature, "top_p": request.top_p,
        "max_tokens": request.max_tokens, "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty, "model": request.model,
    }, ensure_ascii=False)


def request_from_json(text: str) -> LlmRequest:
    data: dict[str, Any] = json.loads(text)
    return LlmRequest(
        tuple(ChatMessage(m["role"], m["content"], interrupted=m["interrupted"])
              for m in data["messages"]),
        temperature=data["temperature"], top_p=data["top_p"], max_tokens=data["max_tokens"],
        presence_penalty=data["presence_penalty"],
        frequency_penalty=data["frequency_penalty"], model=data["model"])
