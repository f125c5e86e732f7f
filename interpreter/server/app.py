"""The REST v1 app: flows (upload, list, read, publish, roll back, delete),
calls (server/calls.py) and following them (server/events.py), health,
readiness, metrics (server/metrics.py) and the OpenAPI document.

`build_app(store)` returns the aiohttp application; `callkernel serve` runs
it, tests drive it through `aiohttp_client`. Two middlewares wrap every
handler: `problems_middleware` (outermost: any error becomes a problem
document) and `auth_middleware` (the bearer token and the route's scope).

Each part has its module: flows (server/flows.py), calls (server/calls.py),
following calls (server/events.py), metrics (server/metrics.py); the request
helpers they share are server/requests.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from interpreter.host import CallHost
from interpreter.server import media_routes, pages
from interpreter.server.auth import STORE, auth_middleware, requires
from interpreter.server.calls import CALLS, CallRegistry
from interpreter.server.calls import routes as call_routes
from interpreter.server.commands import routes as command_routes
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.events import EVENTS, CallEvents
from interpreter.server.events import routes as event_routes
from interpreter.server.flow_diff import routes as diff_routes
from interpreter.server.flows import routes as flow_routes
from interpreter.server.metrics import METRICS, CallMetrics
from interpreter.server.metrics import routes as metrics_routes
from interpreter.server.openapi import OPENAPI
from interpreter.server.outbox_api import routes as outbox_routes
from interpreter.server.problems import Problem, problems_middleware
from interpreter.server.recordings import routes as recording_routes
from interpreter.server.remote_flows import REMOTE_FLOWS, RemoteFlows
from interpreter.server.remote_flows import routes as binding_routes
from interpreter.server.requests import FLOW_NAME, HOST, MAX_BODY
from interpreter.server.routing import routes as routing_routes
from interpreter.server.store import NotFound, Scope, Store
from interpreter.transports.media_stream.call_control import ProviderCredentials

__all__ = ["FLOW_NAME", "HOST", "build_app"]

routes = web.RouteTableDef()


def build_app(store: Store, *, max_body_bytes: int = 1_048_576,
              host: CallHost | None = None,
              outbox: StoreOutbox | None = None,
              metrics: CallMetrics | None = None,
              events: CallEvents | None = None,
              max_live_calls: int | None = None,
              providers: Mapping[str, ProviderCredentials] | None = None
              ) -> web.Application:
    """The REST v1 application over `store`. The caller owns the store: it
    opens it before and closes it after. Calls run on `host`, which the
    caller then owns too (started before the app, closed after) and which
    must have been built with `outbox` (the store's outbox: it is started and
    closed with the app); with none, the app makes both, started and closed
    with the app. Either way the calls the app started are ended at its
    cleanup. `/metrics` sees the calls' trace records on the host the app
    makes; a host given here is seen only if it was built with
    `trace_sinks=metrics.trace_sinks()` and that `metrics` is passed too (its
    live calls are seen either way). Likewise its calls can be followed
    (`/events`, `/ws`) only if the host's trace sinks feed `events`
    (`events.trace_sinks()`, which composes:
    `metrics.trace_sinks(events.trace_sinks())`). `max_live_calls`: calls
    live at once, over which a start is refused (None: no bound). `providers`:
    the REST credentials transfers on media-stream calls use (none: dials fail)."""
    app = web.Application(client_max_size=max_body_bytes,
                          middlewares=[problems_middleware, auth_middleware])
    metrics = metrics or CallMetrics()
    events = events or CallEvents()
    if host is None:
        outbox = StoreOutbox(store)
        # Each record passes the metrics, then the call's followers.
        host = CallHost(trace_sinks=metrics.trace_sinks(events.trace_sinks()), outbox=outbox)
        owns_host = True
    else:
        owns_host = False
    registry = CallRegistry(host, store, owns_host=owns_host, outbox=outbox,
                            on_ended=events.ended, virtual_sinks=metrics.trace_sinks(),
                            max_live_calls=max_live_calls)
    metrics.watch(registry.host)
    app[STORE] = store
    app[HOST] = registry.host
    app[CALLS] = registry
    app[MAX_BODY] = max_body_bytes
    app[METRICS] = metrics
    app[EVENTS] = events
    app[REMOTE_FLOWS] = RemoteFlows()  # bound flows' ETag cache (server/remote_flows.py)
    app.cleanup_ctx.append(registry.running)
    app.on_response_prepare.append(_server_header)
    app.add_routes(routes)
    app.add_routes(flow_routes)
    app.add_routes(call_routes)
    app.add_routes(command_routes)
    app.add_routes(metrics_routes)
    app.add_routes(event_routes)
    app.add_routes(routing_routes)
    app.add_routes(binding_routes)
    app.add_routes(diff_routes)
    app.add_routes(outbox_routes)
    app.add_routes(pages.routes)
    app.add_routes(recording_routes)
    media_routes.mount(app, registry, app[REMOTE_FLOWS], providers)
    return app


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp names itself and Python with their versions; a probe learns
    # nothing from ours.
    response.headers["Server"] = "callkernel"


# ------------------------------------------------------------ health and docs

@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready: the store answers a query and the server is not shutting down."""
    if not request.app[CALLS].accepting:
        raise Problem("shutting-down", "the server is shutting down")
    try:
        await request.app[STORE].flow("readyz-probe")
    except NotFound:
        pass  # an answer all the same
    except Exception as error:
        raise Problem("store-unavailable", f"the store did not answer: {error}") from None
    return web.json_response({"status": "ready"})


@routes.get("/v1/openapi.json")
@requires(Scope.READ)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)
