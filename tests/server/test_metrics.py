"""`GET /metrics`: calls started over REST on a real SQLite store and the
app's own host show up in Prometheus text, counted from their trace records;
the live calls gauge is read when scraped; the endpoint needs a `read` token;
and the metric names and help strings stay what dashboards were built on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from interpreter.host import CallHost
from interpreter.runtime.outbox import Delivery
from interpreter.runtime.trace import JsonlTraceSink, read_trace
from interpreter.server.app import build_app
from interpreter.server.metrics import MAX_DISPOSITIONS, OTHER, CallMetrics
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from tests.server.rest import SILENT_CALLER, SLEEPER, ended, publish, start_id
from tests.server.tokens import bearer

Client = TestClient[web.Request, web.Application]
POLL_DEADLINE = 15.0  # seconds of wall time a short call is given to end
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# The agent answers, then on the caller's hello calls a data_map tool that
# returns and a webhook at a link-local address, which the destination policy
# always refuses (a tool_error, no server needed). The caller hangs up 0.5 s
# later: about 1.6 s in all.
TOOLS = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "You are a test agent."}
        SWAIG:
          functions:
            - function: greet
              description: A greeting.
              parameters: {type: object, properties: {}}
              data_map:
                expressions:
                  - {string: "hello", pattern: "hello", output: {response: "Greeted."}}
            - function: check_order
              description: Look an order up.
              parameters: {type: object, properties: {}}
              web_hook_url: http://169.254.169.254/swaig
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hi."
  - when: {said: "hello"}
    call: {function: greet, arguments: {}}
  - when: {after_tool: greet}
    call: {function: check_order, arguments: {}}
  - reply: "Sorry?"
"""
CALLER = """\
pause: 0.05
steps:
  - say: "Hello."
  - hangup: {}
    after: 0.5
"""
BRIEF = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - hangup: {}
"""

# What dashboards and alerts are built on: renaming one, or changing its type,
# breaks them. (prometheus-client's `*_created` series are left out.)
METRICS = [
    ("callkernel_calls_live", "gauge", "Calls live on the server's host now."),
    ("callkernel_calls_ended_total", "counter",
     "Calls ended, by disposition (how each ended)."),
    ("callkernel_turns_total", "counter", "Model replies (turns) in ai sessions."),
    ("callkernel_turn_seconds", "histogram",
     "A turn from the request to the model until its reply is done, in seconds."),
    ("callkernel_turn_response_seconds", "histogram",
     "From the caller's last words to the first sentence of the reply handed to "
     "speech, in seconds."),
    ("callkernel_tool_seconds", "histogram",
     "A tool call from start to its reply, failure or cancellation, in seconds, by "
     "outcome."),
    ("callkernel_errors_total", "counter",
     "Classified runtime errors, by type and whether they ended the call."),
    ("callkernel_outbox_pending", "gauge",
     "Post-call deliveries not yet delivered or given up (0 when the outbox cannot "
     "tell)."),
]


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any) -> Client:
    made: Client = await aiohttp_client(build_app(store))
    return made








async def scrape(client: Client, auth: dict[str, str]) -> Samples:
    response = await client.get("/metrics", headers=auth)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(await response.text())


def samples(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


# ------------------------------------------------------------ calls over REST

@pytest.mark.parametrize("clock", ["real", "virtual"])
async def test_a_call_that_ended_is_counted_with_its_turns_tools_and_errors(
        client: Client, auth: dict[str, str], clock: str) -> None:
    await publish(client, auth, "tools", TOOLS)
    await ended(client, auth, await start_id(client, auth, "tools", CALLER, model=RULES,
                                          clock=clock))
    found = await scrape(client, auth)

    assert value(found, "callkernel_calls_ended_total", disposition="caller_hangup") == 1
    assert value(found, "callkernel_calls_live") == 0
    # "Hi.", then the two tool calls: three model replies.
    assert value(found, "callkernel_turns_total") == 3
    assert value(found, "callkernel_turn_seconds_count") == 3
    assert value(found, "callkernel_turn_seconds_bucket", le="+Inf") == 3
    # Only "Hi." was spoken; a reply that only calls a tool has no response latency.
    assert value(found, "callkernel_turn_response_seconds_count") == 1
    assert value(found, "callkernel_tool_seconds_count", outcome="returned") == 1
    assert value(found, "callkernel_tool_seconds_count", outcome="failed") == 1
    assert value(found, "callkernel_tool_seconds_count", outcome="cancelled") is None
    assert value(found, "callkernel_errors_total", type="tool_error", fatal="false") == 1
    assert value(found, "callkernel_outbox_pending") == 0


async def test_the_live_calls_gauge_counts_a_call_while_it_runs(
        client: Client, auth: dict[str, str]) -> None:
    await publish(client, auth, "sleeper", SLEEPER)
    call_id = await start_id(client, auth, "sleeper", SILENT_CALLER)
    live = await scrape(client, auth)
    assert value(live, "callkernel_calls_live") == 1
    assert value(live, "callkernel_calls_ended_total", disposition="hangup_requested") is None

    assert (await client.post(f"/v1/calls/{call_id}/hangup", headers=auth)).status == 202
    await ended(client, auth, call_id)
    after = await scrape(client, auth)
    assert value(after, "callkernel_calls_live") == 0
    assert value(after, "callkernel_calls_ended_total", disposition="hangup_requested") == 1


async def test_a_given_host_built_with_the_metrics_sinks_is_counted(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    metrics = CallMetrics()
    async with CallHost(trace_sinks=metrics.trace_sinks()) as host:
        client: Client = await aiohttp_client(build_app(store, host=host, metrics=metrics))
        await publish(client, auth, "brief", BRIEF)
        await ended(client, auth, await start_id(client, auth, "brief", SILENT_CALLER))
        found = await scrape(client, auth)
        assert value(found, "callkernel_calls_ended_total", disposition="hangup:hangup") == 1
        await client.close()


# ------------------------------------------------------------ the endpoint

async def test_metrics_need_a_token_with_the_read_scope(client: Client,
                                                        store: SqliteStore) -> None:
    anonymous = await client.get("/metrics")
    assert anonymous.status == 401
    assert anonymous.content_type == "application/problem+json"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    flows_only = await client.get("/metrics", headers=await bearer(store, Scope.FLOWS))
    assert flows_only.status == 403
    read_only = await client.get("/metrics", headers=await bearer(store, Scope.READ))
    assert read_only.status == 200


async def test_metric_names_types_and_help_are_stable(client: Client,
                                                      auth: dict[str, str]) -> None:
    response = await client.get("/metrics", headers=auth)
    text = await response.text()
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.MULTILINE))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    listed = [(name, types[name], helps[name]) for name in helps
              if not name.endswith("_created")]
    assert listed == METRICS


async def test_openmetrics_is_served_when_asked_for(client: Client,
                                                    auth: dict[str, str]) -> None:
    response = await client.get("/metrics", headers={
        **auth, "Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await response.text()
    assert text.endswith("# EOF\n") and "# TYPE callkernel_calls_ended counter" in text


async def test_each_app_counts_only_its_own_calls(store: SqliteStore, aiohttp_client: Any,
                                                  auth: dict[str, str]) -> None:
    first: Client = await aiohttp_client(build_app(store))
    second: Client = await aiohttp_client(build_app(store))
    await publish(first, auth, "brief", BRIEF)
    await ended(first, auth, await start_id(first, auth, "brief", SILENT_CALLER))
    assert value(await scrape(first, auth), "callkernel_calls_ended_total",
                 disposition="hangup:hangup") == 1
    assert value(await scrape(second, auth), "callkernel_calls_ended_total",
                 disposition="hangup:hangup") is None


# ------------------------------------------------------------ CallMetrics itself

def test_records_reach_the_sink_the_host_would_have_used(tmp_path: Path) -> None:
    metrics = CallMetrics()
    path = tmp_path / "call.jsonl"
    sink = metrics.trace_sinks(lambda call_id: JsonlTraceSink(path, batch=10))("c1")
    records = [{"n": 0, "t": 0.0, "kind": "tool_returned", "function": "f", "seconds": 0.2},
               {"n": 1, "t": 0.3, "kind": "call_ended", "disposition": "completed"}]
    for record in records:
        sink.write(record)
    sink.close()
    assert list(read_trace(path)) == records
    found = samples(metrics.exposition()[0].decode())
    assert value(found, "callkernel_tool_seconds_sum", outcome="returned") == 0.2
    assert value(found, "callkernel_calls_ended_total", disposition="completed") == 1


def test_a_missing_or_null_latency_is_not_observed_and_does_not_fail() -> None:
    metrics = CallMetrics()
    metrics.observe({"kind": "turn", "seconds": None, "audio_latency_s": None})
    metrics.observe({"kind": "tool_failed", "function": "f"})
    metrics.observe({"kind": "error", "type": "llm_error", "fatal": True})
    found = samples(metrics.exposition()[0].decode())
    assert value(found, "callkernel_turns_total") == 1
    assert value(found, "callkernel_turn_seconds_count") == 0
    assert value(found, "callkernel_tool_seconds_count", outcome="failed") is None
    assert value(found, "callkernel_errors_total", type="llm_error", fatal="true") == 1


def test_dispositions_past_the_limit_are_counted_as_other() -> None:
    metrics = CallMetrics()
    for index in range(MAX_DISPOSITIONS + 5):
        metrics.observe({"kind": "call_ended", "disposition": f"hangup:reason {index}"})
    metrics.observe({"kind": "call_ended", "disposition": "hangup:reason 0"})
    found = samples(metrics.exposition()[0].decode())
    ended = {dict(labels)["disposition"]: count for (name, labels), count in found.items()
             if name == "callkernel_calls_ended_total"}
    assert len(ended) == MAX_DISPOSITIONS + 1
    assert ended[OTHER] == 5 and ended["hangup:reason 0"] == 2


class CountingOutbox:
    """An outbox that tells how many deliveries it holds (as a durable one would)."""

    def __init__(self) -> None:
        self.held: list[Delivery] = []

    def submit(self, delivery: Delivery) -> None:
        self.held.append(delivery)

    def pending(self) -> int:
        return len(self.held)


async def test_the_outbox_depth_is_read_when_the_outbox_tells_it() -> None:
    outbox = CountingOutbox()
    metrics = CallMetrics()
    async with CallHost(outbox=outbox) as host:
        metrics.watch(host)
        for key in ("a", "b"):
            outbox.submit(Delivery("c1", "post_prompt", key, None, {}))
        assert value(samples(metrics.exposition()[0].decode()),
                     "callkernel_outbox_pending") == 2


def test_every_metric_is_listed_in_the_operations_guide() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for name, kind, _ in METRICS:
        assert f"| `{name}` | {kind} |" in guide, name
