"""The server's store, as a port: flows and their versions, and API tokens.

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
        """Delete the flow and its versions (NotFound)."""
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

    async def close(self) -> None: ...
