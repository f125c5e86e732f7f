"""The server's outbox: stored before it is attempted, delivered at least
once with one idempotency key and one summary, retried with back-off, given
up and retried by hand, and resumed after a restart or a kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from interpreter.destinations import DestinationPolicy
from interpreter.http import AiohttpClient
from interpreter.providers.llm.base import (
    SUMMARY_OPENING,
    ChatMessage,
    Finished,
    LlmRequest,
    StreamItem,
    TextDelta,
)
from interpreter.runtime.outbox import IDEMPOTENCY_HEADER, Delivery
from interpreter.server.durable_outbox import NO_MODEL, StoreOutbox, request_from_json, request_json
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import DeliveryState, StoredDelivery

REPO = Path(__file__).resolve().parents[2]
SUMMARY = LlmRequest((ChatMessage("system", "Summarise."),
                      ChatMessage("user", f"{SUMMARY_OPENING}user: hi")), max_tokens=64)


class CountingModel:
    """A summary model that says how many times it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        self.asked += 1
        yield TextDelta('{"outcome": ')
        yield TextDelta(f'"summary {self.asked}"}}')
        yield Finished()


@dataclass
class Receiver:
    """A summary endpoint on loopback that fails its first `failures` posts."""

    failures: int = 0
    posts: list[tuple[str | None, dict[str, object]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((request.headers.get(IDEMPOTENCY_HEADER), await request.json()))
        if len(self.posts) <= self.failures:
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({})


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/summary", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/summary"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@asynccontextmanager
async def outbox(path: Path, **options: float) -> AsyncIterator[tuple[StoreOutbox, SqliteStore]]:
    store = await SqliteStore.open(path)
    http = AiohttpClient()
    box = StoreOutbox(store, first_backoff=options.pop("first_backoff", 0.01), **options)  # type: ignore[arg-type]
    await box.start(http, {"shared": SHARED})
    try:
        yield box, store
    finally:
        await box.close()
        await http.close()
        await store.close()


SHARED = CountingModel()


def delivery(url: str | None, key: str = "key-1", llm: object = None,
             summary: LlmRequest | None = SUMMARY) -> Delivery:
    return Delivery("call-1", "post_prompt", key, url, {"call_id": "call-1", "action":
                                                        "post_conversation"},
                    {"Authorization": "Basic eDp5"}, summary, llm)  # type: ignore[arg-type]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.01)


async def test_a_delivery_is_stored_then_delivered_with_its_key_and_summary(
        tmp_path: Path) -> None:
    model = CountingModel()
    async with receiving(Receiver()) as receiver, outbox(tmp_path / "s.db") as (box, store):
        box.submit(delivery(receiver.url, llm=model))
        assert box.pending() == 1
        await until(lambda: _state(store, "key-1", DeliveryState.DELIVERED))
        stored = await store.delivery("key-1")
        assert (stored.attempts, stored.last_status, stored.summary) == \
            (1, 200, '{"outcome": "summary 1"}')
        [(key, body)] = receiver.posts
        assert key == "key-1"
        assert body["post_prompt_data"] == {"raw": '{"outcome": "summary 1"}',
                                            "parsed": [{"outcome": "summary 1"}]}
        assert box.pending() == 0


async def test_retries_send_the_same_key_and_the_summary_made_once(tmp_path: Path) -> None:
    model = CountingModel()
    async with receiving(Receiver(failures=2)) as receiver, \
            outbox(tmp_path / "s.db") as (box, store):
        box.submit(delivery(receiver.url, llm=model))
        await until(lambda: _state(store, "key-1", DeliveryState.DELIVERED))
        delivered = await store.delivery("key-1")
        # Delivered: the earlier attempts' 503s are no longer its problem.
        assert (delivered.attempts, delivered.last_error) == (3, "")
    assert model.asked == 1
    assert {key for key, _ in receiver.posts} == {"key-1"}
    assert len({json.dumps(body, sort_keys=True) for _, body in receiver.posts}) == 1


async def test_the_last_failure_gives_up_and_a_retry_by_hand_delivers(tmp_path: Path) -> None:
    async with receiving(Receiver(failures=3)) as receiver, \
            outbox(tmp_path / "s.db", attempts=3) as (box, store):
        box.submit(delivery(receiver.url, summary=None))
        await until(lambda: _state(store, "key-1", DeliveryState.FAILED))
        failed = await store.delivery("key-1")
        assert (failed.attempts, failed.last_status, failed.last_error) == (3, 503, "HTTP 503")
        assert box.pending() == 0
        again = await box.retry("key-1")
        assert (again.state, again.attempts) == (DeliveryState.PENDING, 0)
        await until(lambda: _state(store, "key-1", DeliveryState.DELIVERED))
        with pytest.raises(ValueError, match="delivered"):
            await box.retry("key-1")
    assert len(receiver.posts) == 4


async def test_a_delivery_without_a_url_keeps_its_summary(tmp_path: Path) -> None:
    async with outbox(tmp_path / "s.db") as (box, store):
        box.submit(delivery(None, llm=CountingModel()))
        await until(lambda: _state(store, "key-1", DeliveryState.KEPT))
        assert (await store.delivery("key-1")).summary == '{"outcome": "summary 1"}'


async def test_a_restart_delivers_what_was_pending(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    # The endpoint is down: nothing listens on the port any more.
    async with receiving(Receiver()) as gone:
        url = gone.url
    async with outbox(path, first_backoff=30.0) as (box, store):
        box.submit(delivery(url, llm=SHARED))
        await until(lambda: _attempted(store, "key-1"))
        assert (await store.delivery("key-1")).state is DeliveryState.PENDING
    # Back up on a new port: the test points the stored delivery at it.
    async with receiving(Receiver()) as receiver:
        await _move(path, "key-1", receiver.url)
        async with outbox(path) as (box, store):
            assert box.pending() == 1
            await until(lambda: _state(store, "key-1", DeliveryState.DELIVERED))
    [(key, body)] = receiver.posts
    assert key == "key-1"
    # The shared provider is the host's: the summary is generated after the restart.
    assert body["post_prompt_data"]["raw"].startswith('{"outcome": "summary')  # type: ignore[index]


async def test_a_calls_own_model_does_not_outlive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with receiving(Receiver()) as receiver:
        # As a server that died stored it: a summary owed, by a model it does not name.
        store = await SqliteStore.open(path)
        await store.add_delivery(StoredDelivery(
            key="key-1", call_id="call-1", kind="post_prompt", url=receiver.url, body="{}",
            headers="{}", created_at=1.0, summary_request=request_json(SUMMARY)))
        await store.close()
        async with outbox(path) as (_, store):
            await until(lambda: _state(store, "key-1", DeliveryState.DELIVERED))
            stored = await store.delivery("key-1")
    assert (stored.summary, stored.last_error) == ("", NO_MODEL)
    assert receiver.posts[0][1]["post_prompt_data"] == {"raw": "", "parsed": []}


KILLED = """
import asyncio, sys
from pathlib import Path
from interpreter.destinations import DestinationPolicy
from interpreter.http import AiohttpClient
from interpreter.runtime.outbox import Delivery
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.sqlite_store import SqliteStore

async def main():
    store = await SqliteStore.open(Path(sys.argv[1]))
    box = StoreOutbox(store, first_backoff=3600)
    await box.start(AiohttpClient(), {})
    box.submit(Delivery("call-1", "post_prompt", "key-9", sys.argv[2], {"n": 9}))
    while await store.pending_deliveries() == 0:
        await asyncio.sleep(0.01)
    print("stored", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_kill_9_after_acceptance_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with receiving(Receiver(failures=1_000)) as down:
        process = subprocess.Popen([sys.executable, "-c", KILLED, str(path), down.url],
                                   stdout=subprocess.PIPE, cwd=REPO,
                                   env={**os.environ, "CALLKERNEL_ALLOW_LOOPBACK": "1"})
        try:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)  # type: ignore[union-attr]
            assert line.strip() == b"stored"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            process.stdout.close()  # type: ignore[union-attr]
    async with receiving(Receiver()) as receiver:
        await _move(path, "key-9", receiver.url)
        async with outbox(path) as (_, store):
            await until(lambda: _state(store, "key-9", DeliveryState.DELIVERED))
    assert receiver.posts == [("key-9", {"n": 9})]


def test_a_summary_request_round_trips_through_json() -> None:
    assert request_from_json(request_json(SUMMARY)) == SUMMARY


# ------------------------------------------------------------ helpers

async def _state(store: SqliteStore, key: str, state: DeliveryState) -> bool:
    try:
        return (await store.delivery(key)).state is state
    except Exception:
        return False


async def _attempted(store: SqliteStore, key: str) -> bool:
    try:
        return (await store.delivery(key)).attempts > 0
    except Exception:
        return False


async def _move(path: Path, key: str, url: str) -> None:
    """Point a stored delivery at a new URL and make it due (the endpoint came
    back on another port)."""
    store = await SqliteStore.open(path)
    try:
        await store._run(lambda db: db.execute(
            "UPDATE deliveries SET url = ?, next_attempt_at = 0 WHERE key = ?", (url, key)))
    finally:
        await store.close()


async def test_a_refused_destination_fails_at_once_saying_how_to_allow_it(
        tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    http = AiohttpClient(policy=DestinationPolicy(set_by_server=True))  # loopback refused
    box = StoreOutbox(store, first_backoff=0.01)
    await box.start(http, {})
    try:
        box.submit(delivery("http://127.0.0.1:9/summary", summary=None))
        await until(lambda: _state(store, "key-1", DeliveryState.FAILED))
        failed = await store.delivery("key-1")
        assert failed.attempts == 1
        assert "--allow-loopback true" in failed.last_error
        assert failed.last_error.count("refused") == 1  # said once
    finally:
        await box.close()
        await http.close()
        await store.close()
