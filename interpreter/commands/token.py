"""`callkernel token create|list|revoke`: API tokens, in the data directory's store.

The commands open the store directly (the server may be running: SQLite
lets both at it), so the first admin token can be made before the server
ever starts. `create` prints the secret once; the store keeps only its hash.

Exit codes: 0 done, 1 no such token (revoke), 2 a bad setting or config file,
or a store that cannot be opened (list and revoke do not create one).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO, TypeVar

from interpreter.commands.remote_client import table
from interpreter.server.auth import create_token
from interpreter.server.config import ConfigError, ServerSettings, resolve
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import NotFound, Scope, StoreError, Token

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")


class StoreUnavailable(Exception):
    """The store cannot be opened (or, for list and revoke, does not exist)."""


def _settings(data_dir: str | None, config_path: str | None,
              environ: Mapping[str, str]) -> ServerSettings:
    return resolve({"data_dir": data_dir}, environ,
                   Path(config_path) if config_path else None, keys=("data_dir",))


def _with_store(settings: ServerSettings, action: Callable[[SqliteStore], Awaitable[T]], *,
                create: bool) -> T:
    """Open the store, run `action` on it, close it."""
    if not create and not settings.store_path.is_file():
        raise StoreUnavailable(f"no store in {settings.data_dir} (callkernel serve or "
                               "token create makes one; is --data-dir right?)")

    async def run() -> T:
        try:
            store = await SqliteStore.open(settings.store_path)
        except StoreError as error:  # the message names the file and why
            raise StoreUnavailable(str(error)) from None
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def token_json(token: Token) -> dict[str, object]:
    return {"token_id": token.token_id, "name": token.name,
            "scopes": sorted(scope.value for scope in token.scopes),
            "created_at": token.created_at, "revoked": token.revoked}


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(seconds))


def create(name: str, scopes: Sequence[str], *, data_dir: str | None = None,
           config_path: str | None = None, environ: Mapping[str, str],
           as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Make a token; print its id and, this once, its secret."""
    out, err = out or sys.stdout, err or sys.stderr
    if not name.strip():
        print("callkernel token create: the name must not be empty", file=err)
        return EXIT_USAGE
    wanted = frozenset(Scope(scope) for scope in scopes)
    try:
        settings = _settings(data_dir, config_path, environ)
        token, secret = _with_store(settings, lambda store: create_token(store, name, wanted),
                                    create=True)
    except (ConfigError, StoreUnavailable) as error:
        print(f"callkernel token create: {error}", file=err)
        return EXIT_USAGE
    if as_json:
        print(json.dumps({**token_json(token), "secret": secret}), file=out)
    else:
        print(f"token_id: {token.token_id}", file=out)
        print(f"secret:   {secret}", file=out)
    print(f"token {token.token_id} ({name}; scopes: {', '.join(_scopes(token))}): the secret "
          "is shown only now; the server keeps only its hash. Send it as "
          "'Authorization: Bearer <secret>'.", file=err)
    return EXIT_OK


def _scopes(token: Token) -> list[str]:
    return sorted(scope.value for scope in token.scopes)


def list_tokens(*, data_dir: str | None = None, config_path: str | None = None,
                environ: Mapping[str, str], as_json: bool = False,
                out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print every token, revoked ones marked; never a secret."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        settings = _settings(data_dir, config_path, environ)
        tokens = _with_store(settings, lambda store: store.tokens(), create=False)
    except (ConfigError, StoreUnavailable) as error:
        print(f"callkernel token list: {error}", file=err)
        return EXIT_USAGE
    if as_json:
        print(json.dumps([token_json(token) for token in tokens]), file=out)
        return EXIT_OK
    rows: list[tuple[str, ...]] = [
        (token.token_id, "revoked" if token.revoked else "active", _when(token.created_at),
         ",".join(_scopes(token)), token.name) for token in tokens]
    table(("ID", "STATE", "CREATED", "SCOPES", "NAME"), rows, out)
    print(f"{len(tokens)} token(s)", file=err)
    return EXIT_OK


def revoke(token_id: str, *, data_dir: str | None = None, config_path: str | None = None,
           environ: Mapping[str, str], out: TextIO | None = None,
           err: TextIO | None = None) -> int:
    """Revoke a token by its id: requests carrying it get 401 from then on."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        settings = _settings(data_dir, config_path, environ)
        token = _with_store(settings, lambda store: store.revoke_token(token_id), create=False)
    except (ConfigError, StoreUnavailable) as error:
        print(f"callkernel token revoke: {error}", file=err)
        return EXIT_USAGE
    except NotFound:
        print(f"callkernel token revoke: no token {token_id!r} (callkernel token list "
              "shows them)", file=err)
        return EXIT_NOT_FOUND
    print(f"revoked {token.token_id} ({token.name})", file=out)
    return EXIT_OK
