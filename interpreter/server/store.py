"""The server's store, as a port: flows and their versions, API tokens, call
records and the outbox of post-call deliveries.

The REST layer and the CLI speak only this protocol; SQLite is the embedded
default (server/sqlite_store.py) and a networked database can take its place
later, so nothing SQLite-only appears here. Every method is async: an
implementation may do its I/O off the event loop.

A flow is a name with numbered versions (1, 2, ...). A version keeps the
document exactly as uploaded (its bytes and media type), its content hash and
the lint warnings it had. Versions are drafts until one is published: at most
one version of a flow is live. `publish` and `rollback` move the live pointer
atomically; a version is never changed after it is stored. Deleting a flow
deletes its versions.

A token is stored as the SHA-256 of its secret, never the secret itself; the
secret is shown once, when it is created.

A call record is written when a call starts (live) and again when it ends
(its disposition and its trace), so calls outlive the process: a server that
restarts after a crash finds the calls that were live and records them as
ended by the crash (`end_live_calls`).

A delivery is a post-call message (a summary, a status callback) stored
before its first attempt and updated after each one, so a restart resumes
what was not yet delivered: at least once, never lost once accepted.

The routing table says which flow answers a call (server/routing.py resolves
it): ordered routes on the called address or on a transport's custom
parameters, and a default flow. It is replaced whole, atomically, never
edited route by route; a route may name a flow that does not exist (yet), and
the REST layer warns about it. A flow binding is a flow name bound to a URL
(remote SWML, server/remote_flows.py) instead of stored versions: a name is
either stored or bound, never both, and the store refuses whichever of the
two would make it both (`Conflict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Scope(StrEnum):
    """What a token may do. `admin` may do everything."""

    READ = "read"  # read flows, versions, calls, traces
    FLOWS = "flows"  # upload, publish, roll back and delete flows
    CALLS = "calls"  # start and steer calls
    ADMIN = "admin"  # tokens, and everything above


@dataclass(frozen=True, slots=True)
class FlowVersion:
    name: str
    version: int
    content_hash: str  # "sha256:..." of the compiled flow (ir.CompiledFlow.content_hash)
    source: bytes  # the document as uploaded, byte for byte
    media_type: str  # "application/yaml" or "application/json"
    created_at: float  # seconds since the epoch
    warnings: tuple[str, ...] = ()  # the lint warnings it was stored with, rendered

    @property
    def info(self) -> VersionInfo:
        return VersionInfo(self.name, self.version, self.content_hash, self.media_type,
                           len(self.source), self.created_at, self.warnings)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A version without its document: what a list of versions carries, so
    listing many large versions never loads their sources."""

    name: str
    version: int
    content_hash: str
    media_type: str
    size: int  # bytes of the document
    created_at: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowSummary:
    name: str
    versions: int  # how many versions it has
    latest: int  # the newest version
    live: int | None  # the published version, if any
    updated_at: float


@dataclass(frozen=True, slots=True)
class Token:
    token_id: str  # public, shown in lists: "tok_..."
    name: str
    scopes: frozenset[Scope]
    created_at: float
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class CallEntry:
    """A call's record as stored: written live, completed when it ends."""

    call_id: str
    flow: str | None  # None: no route matched (the call heard an apology)
    version: int | None  # None: a flow bound to a URL, or no route
    content_hash: str
    media: str  # "text" | "audio"
    started_at: float  # seconds since the epoch
    ended_at: float | None = None
    disposition: str | None = None  # how it ended ("caller_hangup", "server_crashed", ...)

    @property
    def live(self) -> bool:
        return self.ended_at is None


class DeliveryState(StrEnum):
    PENDING = "pending"  # not yet delivered: due now or after a back-off
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; a retry by hand makes it pending again
    KEPT = "kept"  # no URL: the summary is only kept here


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """One post-call message in the outbox.

    `body` is what is POSTed to `url` once `summary` (if the delivery has a
    summary request) is generated and added; the summary is stored the first
    time it is generated, so a retry after a restart sends the same one."""

    key: str  # the idempotency key: the same on every attempt
    call_id: str
    kind: str  # "post_prompt", "status"
    url: str | None
    body: str  # JSON object text
    headers: str  # JSON object text
    created_at: float
    state: DeliveryState = DeliveryState.PENDING
    summary_request: str | None = None  # JSON of the LlmRequest; None: no summary
    llm: str | None = None  # the host's provider name for the summary, when it has one
    summary: str | None = None  # the generated summary, once generated
    attempts: int = 0
    next_attempt_at: float = 0.0  # seconds since the epoch
    last_error: str = ""
    last_status: int | None = None
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Route:
    """One routing rule: the calls it matches, and the flow that answers them.

    A route matches on the called address (`to`: exact, or a prefix when it
    ends in `*`) or on custom parameters (`params`: every name=value must be
    among the call's); server/routing.py defines matching and precedence."""

    flow: str
    to: str | None = None
    params: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, in the order given


@dataclass(frozen=True, slots=True)
class RoutingTable:
    routes: tuple[Route, ...] = ()  # in the order written: order is precedence
    default: str | None = None  # the flow for a call no route matches
    updated_at: float | None = None  # when it was last replaced; None: never set


@dataclass(frozen=True, slots=True)
class FlowBinding:
    """A flow answered by a document fetched from `url` for each call."""

    name: str
    url: str  # as given, credentials included (they are the Basic auth): never shown
    created_at: float
    updated_at: float


class StoreError(Exception):
    """A store operation that cannot be done as asked (the REST layer maps
    each kind to a status)."""


class NotFound(StoreError):
    """No such flow, version or token."""


class Conflict(StoreError):
    """The operation conflicts with the store's state (a stale expected live
    version, a name taken)."""


class Store(Protocol):
    async def add_version(self, name: str, source: bytes, media_type: str,
                          content_hash: str, warnings: tuple[str, ...]) -> FlowVersion:
        """Store a new version of `name` (creating the flow), numbered one
        past its latest. Concurrent adds to one flow get distinct numbers."""
        ...

    async def flows(self) -> list[FlowSummary]:
        """Every flow, by name."""
        ...

    async def flow(self, name: str) -> FlowSummary:
        """One flow (NotFound)."""
        ...

    async def versions(self, name: str) -> list[VersionInfo]:
        """A flow's versions without their documents, oldest first (NotFound
        for no such flow)."""
        ...

    async def version(self, name: str, version: int | None = None, *,
                      live: bool = False) -> FlowVersion:
        """Version `version`; with none, the live one (`live=True`) or the
        latest. NotFound when there is no such version (or none is live)."""
        ...

    async def publish(self, name: str, version: int,
                      expected_live: int | None = None) -> FlowSummary:
        """Make `version` the live one. With `expected_live`, only if the
        live version is still that (Conflict otherwise): a rollback or a
        publish that raced another does not silently win."""
        ...

    async def delete_flow(self, name: str) -> None:
        """Delete the flow and its versions (NotFound). Its version numbers are
        not reused: a flow made again under the name numbers on from them."""
        ...

    async def add_token(self, name: str, scopes: frozenset[Scope],
                        secret_hash: str) -> Token:
        """Store a token by the hash of its secret."""
        ...

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        """The token with this secret hash, revoked or not; None if unknown."""
        ...

    async def tokens(self) -> list[Token]:
        ...

    async def revoke_token(self, token_id: str) -> Token:
        """Revoke it (NotFound); revoking twice is not an error."""
        ...

    # -- call records ---------------------------------------------------------

    async def add_call(self, entry: CallEntry) -> None:
        """Record a call that started (Conflict if its id is taken)."""
        ...

    async def end_call(self, call_id: str, ended_at: float, disposition: str,
                       trace: bytes) -> None:
        """Record that it ended, with its trace (JSONL bytes). NotFound for
        no such call; ending an ended call changes nothing."""
        ...

    async def call(self, call_id: str) -> CallEntry:
        """One call (NotFound)."""
        ...

    async def calls(self, *, flow: str | None = None, live: bool | None = None,
                    since: float | None = None, until: float | None = None,
                    limit: int = 100) -> list[CallEntry]:
        """Calls newest first, filtered by flow, live or ended, and start time
        (`since` <= started_at < `until`)."""
        ...

    async def call_trace(self, call_id: str) -> bytes | None:
        """The trace stored when the call ended (None while it is live, or
        when it ended by a crash); NotFound for no such call."""
        ...

    async def end_live_calls(self, ended_at: float, disposition: str) -> list[str]:
        """Record every call still live as ended with `disposition`: what a
        server does on start, when the calls a crash left live cannot be
        running. The ids it ended."""
        ...

    # -- outbox ---------------------------------------------------------------

    async def add_delivery(self, delivery: StoredDelivery) -> None:
        """Accept a delivery (a repeat of a key already stored changes nothing)."""
        ...

    async def update_delivery(self, delivery: StoredDelivery) -> None:
        """Store a delivery's new state, attempts, summary and error (NotFound)."""
        ...

    async def delivery(self, key: str) -> StoredDelivery:
        """One delivery (NotFound)."""
        ...

    async def deliveries(self, *, state: DeliveryState | None = None,
                         call_id: str | None = None, limit: int = 100
                         ) -> list[StoredDelivery]:
        """Deliveries newest first, filtered by state and call."""
        ...

    async def due_deliveries(self, now: float, limit: int = 100) -> list[StoredDelivery]:
        """Pending deliveries whose next attempt is due, the longest due first."""
        ...

    async def next_due(self, after: float) -> float | None:
        """When the earliest pending delivery due later than `after` is due;
        None with none. (Those due by `after` are being attempted.)"""
        ...

    async def pending_deliveries(self) -> int:
        """How many deliveries are pending."""
        ...

    # -- routes and bindings --------------------------------------------------

    async def routing(self) -> RoutingTable:
        """The routing table (empty, `updated_at` None, until one is set)."""
        ...

    async def replace_routing(self, table: RoutingTable) -> RoutingTable:
        """Replace the whole table at once (its `updated_at` is ignored and
        stamped); readers see the old table or the new one, never a mix."""
        ...

    async def bind_flow(self, name: str, url: str) -> FlowBinding:
        """Bind `name` to `url`, or move an existing binding to a new URL.
        Conflict when `name` is a stored flow (it has versions)."""
        ...

    async def binding(self, name: str) -> FlowBinding:
        """One binding (NotFound)."""
        ...

    async def bindings(self) -> list[FlowBinding]:
        """Every binding, by name."""
        ...

    async def unbind_flow(self, name: str) -> None:
        """Remove the binding (NotFound); the name is free for versions again."""
        ...

    async def close(self) -> None: ...
