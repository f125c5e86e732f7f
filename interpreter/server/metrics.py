"""`GET /metrics`: the server's calls in Prometheus text, through prometheus-client.

The calls are observed through their trace records, not through hooks in the
runtime: the host's `trace_sinks` factory is wrapped (`CallMetrics.trace_sinks`)
so that every record a call makes passes `CallMetrics.observe` on its way to
the sink the host would have used (none, or a JSONL file). docs/trace.md
defines the records read here: `turn` (latencies), `tool_returned`,
`tool_failed` and `tool_cancelled` (`seconds`), `error` (`type`, `fatal`) and
`call_ended` (`disposition`). Two gauges are read when scraped instead: the
host's live calls and the outbox's pending deliveries.

Each app has its own `CollectorRegistry`, never prometheus-client's global
one: a process (a test run) builds many apps, and each counts its own calls.
docs/operations.md ("Metrics") lists every metric.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from interpreter.host import CallHost
from interpreter.runtime.trace import TappedSink, TraceSink
from interpreter.server.auth import requires
from interpreter.server.store import Scope

# Turn latencies are a caller's wait: tenths of a second to a few seconds.
TURN_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# Tools range from a data_map expression (microseconds) to a slow webhook
# (its timeout, seconds).
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# `hangup:<reason>` carries the flow's own words: past this many distinct
# dispositions the rest are counted as OTHER, so a flow cannot grow the
# series without bound.
MAX_DISPOSITIONS = 64
OTHER = "other"
TOOL_OUTCOMES = {"tool_returned": "returned", "tool_failed": "failed",
                 "tool_cancelled": "cancelled"}


@runtime_checkable
class CountsPending(Protocol):
    """An outbox that can tell how many deliveries it has not finished."""

    def pending(self) -> int: ...


class CallMetrics:
    """The metrics of one app's calls, in the app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.calls_live = Gauge(
            "callkernel_calls_live", "Calls live on the server's host now.",
            registry=registry)
        self.calls_ended = Counter(
            "callkernel_calls_ended_total", "Calls ended, by disposition (how each ended).",
            ["disposition"], registry=registry)
        self.turns = Counter(
            "callkernel_turns_total", "Model replies (turns) in ai sessions.",
            registry=registry)
        self.turn_seconds = Histogram(
            "callkernel_turn_seconds", "A turn from the request to the model until its "
            "reply is done, in seconds.", buckets=TURN_BUCKETS, registry=registry)
        self.turn_response_seconds = Histogram(
            "callkernel_turn_response_seconds", "From the caller's last words to the "
            "first sentence of the reply handed to speech, in seconds.",
            buckets=TURN_BUCKETS, registry=registry)
        self.tool_seconds = Histogram(
            "callkernel_tool_seconds", "A tool call from start to its reply, failure or "
            "cancellation, in seconds, by outcome.", ["outcome"], buckets=TOOL_BUCKETS,
            registry=registry)
        self.errors = Counter(
            "callkernel_errors_total", "Classified runtime errors, by type and whether "
            "they ended the call.", ["type", "fatal"], registry=registry)
        self.outbox_pending = Gauge(
            "callkernel_outbox_pending", "Post-call deliveries not yet delivered or given "
            "up (0 when the outbox cannot tell).", registry=registry)
        self._dispositions: set[str] = set()

    # ------------------------------------------------------------ wiring

    def trace_sinks(self, inner: Callable[[str], TraceSink] | None = None
                    ) -> Callable[[str], TraceSink]:
        """A `CallHost(trace_sinks=...)` factory: each call's records pass
        these metrics, then go to `inner(call_id)` (none: memory only)."""

        def sink(call_id: str) -> TraceSink:
            return TappedSink(self.observe, inner(call_id) if inner is not None else None)

        return sink

    def watch(self, host: CallHost) -> None:
        """Read the host's live calls and outbox depth at each scrape."""
        self.calls_live.set_function(lambda: len(host.calls))
        self.outbox_pending.set_function(lambda: _pending(host))

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics as the `Accept` header asks (Prometheus text 0.0.4 by
        default, OpenMetrics when asked), and the content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    # ------------------------------------------------------------ records

    def observe(self, record: dict[str, Any]) -> None:
        """Count one trace record. Runs in the call's actor for every record:
        a dict lookup for the kinds not counted; never raises on a field that
        is missing or not a number."""
        kind = record["kind"]
        if kind == "turn":
            self.turns.inc()
            if (seconds := _seconds(record.get("seconds"))) is not None:
                self.turn_seconds.observe(seconds)
            if (latency := _seconds(record.get("audio_latency_s"))) is not None:
                self.turn_response_seconds.observe(latency)
        elif kind in TOOL_OUTCOMES:
            if (seconds := _seconds(record.get("seconds"))) is not None:
                self.tool_seconds.labels(TOOL_OUTCOMES[kind]).observe(seconds)
        elif kind == "error":
            fatal = "true" if record.get("fatal") is True else "false"
            self.errors.labels(str(record.get("type")), fatal).inc()
        elif kind == "call_ended":
            self.calls_ended.labels(self._disposition(str(record.get("disposition")))).inc()

    def _disposition(self, disposition: str) -> str:
        if disposition in self._dispositions:
            return disposition
        if len(self._dispositions) >= MAX_DISPOSITIONS:
            return OTHER
        self._dispositions.add(disposition)
        return disposition


def _seconds(value: object) -> float | None:
    """A duration field as a number, or None when it is absent, null or not one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _pending(host: CallHost) -> int:
    try:
        outbox = host.outbox
    except RuntimeError:  # the host is not started yet
        return 0
    # MemoryOutbox does not expose its pending deliveries; an outbox that
    # does (a durable one) is read here.
    return outbox.pending() if isinstance(outbox, CountsPending) else 0


METRICS: web.AppKey[CallMetrics] = web.AppKey("metrics", CallMetrics)

routes = web.RouteTableDef()


@routes.get("/metrics")
@requires(Scope.READ)
async def metrics(request: web.Request) -> web.Response:
    """The app's metrics in Prometheus text (OpenMetrics if the Accept header asks)."""
    body, content_type = request.app[METRICS].exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})
