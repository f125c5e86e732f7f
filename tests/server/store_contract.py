"""The `Store` port's contract, as checks any implementation must pass.

Each check is an async function taking `open_store`: a function that opens
the implementation under test on one backing store, empty before the first
call; calling it again (after a close) reopens the same data. A test module
per implementation runs `CONTRACT` against its own `open_store`
(tests/server/test_sqlite_store.py for SQLite), so a networked store later
runs exactly these checks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from interpreter.server.store import (
    CallEntry,
    Conflict,
    DeliveryState,
    FlowVersion,
    NotFound,
    Route,
    RoutingTable,
    Scope,
    Store,
    StoredDelivery,
    StoreError,
)

OpenStore = Callable[[], Awaitable[Store]]
Check = Callable[[OpenStore], Awaitable[None]]

YAML = "application/yaml"
JSON = "application/json"
# Not UTF-8 (a lone 0xff, a truncated sequence), a NUL, CRLF and a BOM: the
# store keeps bytes, it never decodes them.
ODD_BYTES = b"\xef\xbb\xbfversion: 1.0.0\r\nsections:\x00\xff\xfe\xc3\r\n\t- x: 'caf\xe9'\n"


@asynccontextmanager
async def opened(open_store: OpenStore) -> AsyncIterator[Store]:
    store = await open_store()
    try:
        yield store
    finally:
        await store.close()


async def add(store: Store, name: str, source: bytes = b"version: 1.0.0\n",
              media_type: str = YAML, warnings: tuple[str, ...] = ()) -> FlowVersion:
    return await store.add_version(name, source, media_type, f"sha256:{len(source):x}",
                                   warnings)


async def add_version_numbers_from_one_and_returns_what_it_stored(
        open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        first = await store.add_version("support", b"a: 1\n", YAML, "sha256:aa",
                                        ("W001 something", "W002 ünïcode"))
        second = await store.add_version("support", b'{"a": 2}', JSON, "sha256:bb", ())
        assert (first.name, first.version, second.version) == ("support", 1, 2)
        assert first.content_hash == "sha256:aa"
        assert first.warnings == ("W001 something", "W002 ünïcode")
        assert (second.media_type, second.warnings) == (JSON, ())
        assert await store.version("support", 1) == first
        assert await store.version("support", 2) == second


async def versions_are_numbered_per_flow(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await add(store, "a")
        await add(store, "a")
        assert (await add(store, "b")).version == 1
        assert (await add(store, "a")).version == 3


async def sources_are_kept_byte_for_byte(open_store: OpenStore) -> None:
    megabyte = (b"# " + bytes(range(256)) * 4096)[: 1 << 20]
    async with opened(open_store) as store:
        odd = await add(store, "odd", ODD_BYTES)
        big = await add(store, "big", megabyte, JSON)
        empty_warnings = await add(store, "odd", b"")
        assert (await store.version("odd", odd.version)).source == ODD_BYTES
        assert (await store.version("big")).source == megabyte
        assert len((await store.version("big")).source) == 1 << 20
        assert [v.size for v in await store.versions("odd")] == [len(ODD_BYTES), 0]
        assert empty_warnings.source == b""
        assert big.media_type == JSON


async def flows_are_listed_by_name_with_their_counts(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        assert await store.flows() == []
        for name in ("sales", "billing-2", "alpha_1", "sales", "billing"):
            await add(store, name)
        await store.publish("sales", 1)
        summaries = await store.flows()
        assert [s.name for s in summaries] == ["alpha_1", "billing", "billing-2", "sales"]
        sales = summaries[-1]
        assert (sales.versions, sales.latest, sales.live) == (2, 2, 1)
        assert (summaries[0].versions, summaries[0].latest, summaries[0].live) == (1, 1, None)
        assert await store.flow("sales") == sales


async def unknown_flows_are_not_found(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await add(store, "known")
        with pytest.raises(NotFound):
            await store.flow("nope")
        with pytest.raises(NotFound):
            await store.versions("nope")
        with pytest.raises(NotFound):
            await store.version("nope")
        with pytest.raises(NotFound):
            await store.version("nope", live=True)
        with pytest.raises(NotFound):
            await store.publish("nope", 1)
        with pytest.raises(NotFound):
            await store.delete_flow("nope")
        assert [s.name for s in await store.flows()] == ["known"]


async def versions_are_listed_oldest_first(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        stored = [await add(store, "f", f"v: {n}\n".encode()) for n in range(5)]
        listed = await store.versions("f")
        assert [v.version for v in listed] == [1, 2, 3, 4, 5]
        assert listed == [v.info for v in stored]  # without the documents


async def version_picks_the_numbered_live_or_latest(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        for n in range(3):
            await add(store, "f", f"v: {n}\n".encode())
        assert (await store.version("f")).version == 3
        with pytest.raises(NotFound, match="live"):
            await store.version("f", live=True)
        await store.publish("f", 2)
        assert (await store.version("f", live=True)).version == 2
        assert (await store.version("f")).version == 3  # latest, not live
        assert (await store.version("f", 1)).source == b"v: 0\n"
        for missing in (0, 4, -1):
            with pytest.raises(NotFound):
                await store.version("f", missing)


async def publish_moves_the_live_version(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        for _ in range(3):
            await add(store, "f")
        summary = await store.publish("f", 1)
        assert (summary.name, summary.live, summary.latest, summary.versions) == ("f", 1, 3, 3)
        assert (await store.publish("f", 3, expected_live=1)).live == 3
        # A rollback is a publish of an older version, guarded by the live one.
        assert (await store.publish("f", 2, expected_live=3)).live == 2
        assert (await store.flow("f")).live == 2
        assert (await store.publish("f", 2, expected_live=2)).live == 2  # idempotent


async def publish_with_a_stale_expected_live_conflicts(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        for _ in range(3):
            await add(store, "f")
        with pytest.raises(Conflict):
            await store.publish("f", 1, expected_live=2)  # nothing is live yet
        await store.publish("f", 2)
        with pytest.raises(Conflict):
            await store.publish("f", 3, expected_live=1)
        assert (await store.flow("f")).live == 2


async def publish_of_an_unknown_version_is_not_found(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await add(store, "f")
        await store.publish("f", 1)
        for missing in (0, 2, 99):
            with pytest.raises(NotFound):
                await store.publish("f", missing)
            with pytest.raises(NotFound):
                await store.publish("f", missing, expected_live=1)
        assert (await store.flow("f")).live == 1


async def delete_flow_removes_it_and_its_versions(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await add(store, "gone")
        await add(store, "gone")
        await store.publish("gone", 2)
        await add(store, "kept")
        await store.delete_flow("gone")
        assert [s.name for s in await store.flows()] == ["kept"]
        with pytest.raises(NotFound):
            await store.flow("gone")
        with pytest.raises(NotFound):
            await store.version("gone", 1)
        with pytest.raises(NotFound):
            await store.delete_flow("gone")
        # The name is free again: a new flow, nothing live, numbered on from
        # the deleted one's (call records may still name its versions).
        assert (await add(store, "gone")).version == 3
        assert (await store.flow("gone")).live is None
        assert (await store.flow("kept")).versions == 1


async def concurrent_adds_get_distinct_consecutive_numbers(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        added = await asyncio.gather(
            *(add(store, "busy", f"n: {n}\n".encode()) for n in range(20)),
            *(add(store, "other") for _ in range(5)))
        busy = [v for v in added if v.name == "busy"]
        assert sorted(v.version for v in busy) == list(range(1, 21))
        assert sorted(v.version for v in added if v.name == "other") == [1, 2, 3, 4, 5]
        # Each number holds the source that was added under it.
        for stored in busy:
            assert (await store.version("busy", stored.version)).source == stored.source
        assert (await store.flow("busy")).versions == 20


async def concurrent_publishes_from_one_live_version_one_wins(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        for _ in range(3):
            await add(store, "f")
        await store.publish("f", 1)
        outcomes = await asyncio.gather(store.publish("f", 2, expected_live=1),
                                        store.publish("f", 3, expected_live=1),
                                        return_exceptions=True)
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(won) == 1 and len(lost) == 1
        assert isinstance(lost[0], Conflict)
        assert (await store.flow("f")).live == won[0].live


async def tokens_are_stored_by_secret_hash(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        assert await store.tokens() == []
        admin = await store.add_token("ops", frozenset({Scope.ADMIN}), "a" * 64)
        ci = await store.add_token("ci", frozenset({Scope.READ, Scope.FLOWS}), "b" * 64)
        assert admin.token_id.startswith("tok_") and admin.token_id != ci.token_id
        assert (ci.name, ci.revoked) == ("ci", False)
        assert ci.scopes == frozenset({Scope.READ, Scope.FLOWS})
        assert await store.token_by_hash("b" * 64) == ci
        assert await store.token_by_hash("c" * 64) is None
        assert await store.tokens() == [admin, ci]  # in creation order


async def a_second_token_with_the_same_secret_hash_conflicts(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        first = await store.add_token("one", frozenset({Scope.READ}), "d" * 64)
        with pytest.raises(Conflict):
            await store.add_token("two", frozenset({Scope.ADMIN}), "d" * 64)
        assert await store.tokens() == [first]


async def revoked_tokens_stay_listed_as_revoked(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        token = await store.add_token("old", frozenset({Scope.CALLS}), "e" * 64)
        revoked = await store.revoke_token(token.token_id)
        assert revoked.revoked and revoked.token_id == token.token_id
        assert revoked.scopes == token.scopes
        assert await store.revoke_token(token.token_id) == revoked  # twice is fine
        assert await store.token_by_hash("e" * 64) == revoked
        assert await store.tokens() == [revoked]
        with pytest.raises(NotFound):
            await store.revoke_token("tok_unknown")


async def everything_survives_a_close_and_reopen(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        stored = [await add(store, "f", ODD_BYTES, warnings=("W1 careful",)),
                  await add(store, "f", b"{}", JSON),
                  await add(store, "g")]
        await store.publish("f", 2)
        token = await store.add_token("ops", frozenset(Scope), "f" * 64)
        kept = await store.add_token("ci", frozenset({Scope.READ}), "0" * 64)
        revoked = await store.revoke_token(token.token_id)
        flows = await store.flows()
    async with opened(open_store) as store:
        assert await store.flows() == flows
        assert await store.versions("f") == [v.info for v in stored[:2]]
        assert await store.version("g") == stored[2]
        assert (await store.version("f", live=True)).version == 2
        assert await store.tokens() == [revoked, kept]
        assert (await add(store, "f")).version == 3


async def a_closed_store_refuses_work(open_store: OpenStore) -> None:
    store = await open_store()
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreError):
        await store.flows()


def entry(call_id: str, started_at: float, flow: str = "support") -> CallEntry:
    return CallEntry(call_id, flow, 1, "sha256:aa", "text", started_at)


async def calls_are_recorded_live_then_ended_with_their_trace(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await store.add_call(entry("c1", 100.0))
        assert (await store.call("c1")).live
        assert await store.call_trace("c1") is None
        await store.end_call("c1", 130.0, "caller_hangup", b'{"kind":"call_ended"}\n')
        ended = await store.call("c1")
        assert (ended.ended_at, ended.disposition, ended.live) == (130.0, "caller_hangup", False)
        assert await store.call_trace("c1") == b'{"kind":"call_ended"}\n'
        # Ending twice keeps the first end: a late report never rewrites it.
        await store.end_call("c1", 999.0, "other", b"")
        assert (await store.call("c1")).disposition == "caller_hangup"
        with pytest.raises(Conflict):
            await store.add_call(entry("c1", 200.0))
        for missing in (store.call("nope"), store.call_trace("nope"),
                        store.end_call("nope", 1.0, "x", b"")):
            with pytest.raises(NotFound):
                await missing


async def calls_are_listed_newest_first_and_filtered(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        for n in range(5):
            await store.add_call(entry(f"c{n}", 100.0 + n, "a" if n % 2 else "b"))
        await store.end_call("c1", 150.0, "done", b"")
        assert [c.call_id for c in await store.calls()] == ["c4", "c3", "c2", "c1", "c0"]
        assert [c.call_id for c in await store.calls(flow="a")] == ["c3", "c1"]
        assert [c.call_id for c in await store.calls(live=False)] == ["c1"]
        assert [c.call_id for c in await store.calls(live=True, flow="a")] == ["c3"]
        assert [c.call_id for c in await store.calls(since=101.0, until=103.0)] == ["c2", "c1"]
        assert [c.call_id for c in await store.calls(limit=2)] == ["c4", "c3"]


async def end_live_calls_ends_only_the_live_ones(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        for n in range(3):
            await store.add_call(entry(f"c{n}", 100.0 + n))
        await store.end_call("c0", 110.0, "caller_hangup", b"trace")
        assert sorted(await store.end_live_calls(200.0, "server_crashed")) == ["c1", "c2"]
        assert (await store.call("c0")).disposition == "caller_hangup"
        assert (await store.call("c2")).disposition == "server_crashed"
        assert await store.call_trace("c2") is None
        assert await store.end_live_calls(300.0, "server_crashed") == []


def delivery(key: str, created_at: float = 100.0, **changes: object) -> StoredDelivery:
    made = StoredDelivery(key=key, call_id="c1", kind="post_prompt",
                          url="https://app.example/summary", body='{"a": 1}',
                          headers='{"Authorization": "Basic eDp5"}', created_at=created_at,
                          next_attempt_at=created_at)
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


async def deliveries_are_stored_updated_and_listed(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        first = delivery("k1", summary_request='{"messages": []}', llm="scripted")
        await store.add_delivery(first)
        await store.add_delivery(delivery("k1", url="https://other.example/"))  # a repeat
        assert await store.delivery("k1") == dataclasses.replace(first, updated_at=100.0)
        await store.add_delivery(delivery("k2", 101.0))
        assert await store.pending_deliveries() == 2
        done = dataclasses.replace(first, state=DeliveryState.DELIVERED, summary="short",
                                   attempts=2, last_status=200, updated_at=120.0)
        await store.update_delivery(done)
        assert await store.delivery("k1") == done
        assert await store.pending_deliveries() == 1
        assert [d.key for d in await store.deliveries()] == ["k2", "k1"]
        assert [d.key for d in await store.deliveries(state=DeliveryState.PENDING)] == ["k2"]
        assert [d.key for d in await store.deliveries(call_id="zz")] == []
        with pytest.raises(NotFound):
            await store.delivery("nope")
        with pytest.raises(NotFound):
            await store.update_delivery(delivery("nope"))


async def due_deliveries_are_the_pending_ones_whose_time_came(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        assert await store.next_due(0.0) is None
        await store.add_delivery(delivery("late", 100.0, next_attempt_at=300.0))
        await store.add_delivery(delivery("soon", 100.0, next_attempt_at=150.0))
        await store.add_delivery(delivery("gone", 100.0, next_attempt_at=50.0,
                                          state=DeliveryState.FAILED))
        assert await store.next_due(0.0) == 150.0
        assert await store.next_due(150.0) == 300.0
        assert await store.next_due(300.0) is None
        assert [d.key for d in await store.due_deliveries(200.0)] == ["soon"]
        assert [d.key for d in await store.due_deliveries(400.0)] == ["soon", "late"]
        assert [d.key for d in await store.due_deliveries(400.0, limit=1)] == ["soon"]


async def call_records_and_deliveries_survive_a_reopen(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await store.add_call(entry("c1", 100.0))
        await store.add_delivery(delivery("k1"))
    async with opened(open_store) as store:
        assert (await store.call("c1")).live
        assert (await store.delivery("k1")).state is DeliveryState.PENDING


TABLE = RoutingTable(
    routes=(Route("sales", to="+15551230001"),
            Route("us", to="+1555*"),
            Route("acme", params=(("tenant", "acme"), ("lang", "fr"))),
            Route("ghost", to="sip:support@example.com")),
    default="fallback")


async def the_routing_table_is_empty_until_set_then_replaced_whole(
        open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        assert await store.routing() == RoutingTable()
        stored = await store.replace_routing(TABLE)
        assert (stored.routes, stored.default) == (TABLE.routes, "fallback")
        assert stored.updated_at is not None
        assert await store.routing() == stored
        # Replaced, not merged: the old routes and default are gone.
        smaller = await store.replace_routing(RoutingTable((Route("b", to="+1"),)))
        assert (await store.routing()).routes == (Route("b", to="+1"),)
        assert (await store.routing()).default is None
        assert await store.routing() == smaller
        emptied = await store.replace_routing(RoutingTable())
        assert (emptied.routes, emptied.default) == ((), None)


async def concurrent_routing_replacements_never_mix(open_store: OpenStore) -> None:
    tables = [RoutingTable(tuple(Route(f"f{n}", to=f"+1{n}{i}") for i in range(n + 1)),
                           default=f"f{n}") for n in range(8)]
    async with opened(open_store) as store:
        await asyncio.gather(*(store.replace_routing(t) for t in tables))
        final = await store.routing()
        # Whichever won, it won whole: its routes with its own default.
        assert any((final.routes, final.default) == (t.routes, t.default) for t in tables)


async def a_flow_is_bound_to_a_url_or_stored_never_both(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        assert await store.bindings() == []
        bound = await store.bind_flow("remote", "https://u:p@swml.example/agent")
        assert (bound.name, bound.url) == ("remote", "https://u:p@swml.example/agent")
        moved = await store.bind_flow("remote", "https://swml.example/v2")
        assert (moved.url, moved.created_at) == ("https://swml.example/v2", bound.created_at)
        assert await store.binding("remote") == moved
        with pytest.raises(Conflict):
            await add(store, "remote")  # a bound flow takes no versions
        with pytest.raises(NotFound):
            await store.flow("remote")  # and is not a stored flow
        await add(store, "stored")
        with pytest.raises(Conflict):
            await store.bind_flow("stored", "https://swml.example/")
        assert [b.name for b in await store.bindings()] == ["remote"]
        await store.unbind_flow("remote")
        for missing in (store.binding("remote"), store.unbind_flow("remote")):
            with pytest.raises(NotFound):
                await missing
        assert (await add(store, "remote")).version == 1  # the name is free again


async def routes_and_bindings_survive_a_reopen(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        table = await store.replace_routing(TABLE)
        binding = await store.bind_flow("remote", "https://swml.example/a")
    async with opened(open_store) as store:
        assert await store.routing() == table
        assert await store.bindings() == [binding]


async def a_deleted_flows_numbers_are_not_reused(open_store: OpenStore) -> None:
    async with opened(open_store) as store:
        await add(store, "support")
        await add(store, "support")
        await store.delete_flow("support")
        again = await add(store, "support")
        assert again.version == 3  # call records may still name versions 1 and 2
        await store.delete_flow("support")
        assert (await add(store, "support")).version == 4


CONTRACT: tuple[Check, ...] = (
    add_version_numbers_from_one_and_returns_what_it_stored,
    versions_are_numbered_per_flow,
    sources_are_kept_byte_for_byte,
    flows_are_listed_by_name_with_their_counts,
    unknown_flows_are_not_found,
    versions_are_listed_oldest_first,
    version_picks_the_numbered_live_or_latest,
    publish_moves_the_live_version,
    publish_with_a_stale_expected_live_conflicts,
    publish_of_an_unknown_version_is_not_found,
    delete_flow_removes_it_and_its_versions,
    concurrent_adds_get_distinct_consecutive_numbers,
    concurrent_publishes_from_one_live_version_one_wins,
    tokens_are_stored_by_secret_hash,
    a_second_token_with_the_same_secret_hash_conflicts,
    revoked_tokens_stay_listed_as_revoked,
    everything_survives_a_close_and_reopen,
    a_closed_store_refuses_work,
    calls_are_recorded_live_then_ended_with_their_trace,
    calls_are_listed_newest_first_and_filtered,
    end_live_calls_ends_only_the_live_ones,
    deliveries_are_stored_updated_and_listed,
    due_deliveries_are_the_pending_ones_whose_time_came,
    call_records_and_deliveries_survive_a_reopen,
    the_routing_table_is_empty_until_set_then_replaced_whole,
    concurrent_routing_replacements_never_mix,
    a_flow_is_bound_to_a_url_or_stored_never_both,
    routes_and_bindings_survive_a_reopen,
    a_deleted_flows_numbers_are_not_reused,
)
