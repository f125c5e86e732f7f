"""Bearer tokens: how they are made, stored and checked on every request.

A secret is `ck_` and 43 URL-safe characters (256 random bits); the store
keeps only its SHA-256, so a leaked database holds no usable secret. A request
is looked up by the hash of the secret it presents: the secret itself is never
compared, and an index lookup of a hash tells an attacker nothing about how
close a guess came.

Each route declares the scope it needs (`requires`); `admin` satisfies every
scope. Routes in `PUBLIC_PATHS` (health, readiness, the OpenAPI document) need
no token. Missing, unknown or revoked token: 401 with `WWW-Authenticate:
Bearer`; a valid token without the scope: 403.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from aiohttp import web

from interpreter.server.problems import Handler, Problem
from interpreter.server.store import Scope, Store, Token

SECRET_PREFIX = "ck_"
# Health only: a probe has no token. Everything else, the API's own
# description included, needs one.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})

STORE: web.AppKey[Store] = web.AppKey("store", Store)
TOKEN: web.RequestKey[Token] = web.RequestKey("token", Token)

# The scope each handler needs, filled by `requires`; a matched route whose
# handler is not here needs `admin`, so a route forgotten here fails closed.
_REQUIRED: dict[Handler, Scope] = {}
# Handlers that check the token themselves, with the scope declared for them:
# a provider's media socket brings it where it can (server/media_routes.py).
_SELF_AUTHENTICATED: set[Handler] = set()
# Handlers anyone may call: the browser pages (server/pages.py), which hold
# no data (every request they make brings its own token).
_PUBLIC: set[Handler] = set()


def new_secret() -> str:
    """A fresh token secret: `ck_` + 43 URL-safe characters."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """The hex SHA-256 of a secret: what the store keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def create_token(store: Store, name: str,
                       scopes: frozenset[Scope] | set[Scope]) -> tuple[Token, str]:
    """Store a new token; return it with its secret, which is shown only now."""
    secret = new_secret()
    token = await store.add_token(name, frozenset(scopes), secret_hash(secret))
    return token, secret


def requires(scope: Scope) -> Callable[[Handler], Handler]:
    """Declare the scope a handler needs."""

    def declare(handler: Handler) -> Handler:
        _REQUIRED[handler] = scope
        return handler

    return declare


def authenticates_itself(handler: Handler, scope: Scope) -> Handler:
    """Declare a handler that checks a token with `scope` itself: the
    middleware lets its requests through untouched."""
    _REQUIRED[handler] = scope
    _SELF_AUTHENTICATED.add(handler)
    return handler


def public(handler: Handler) -> Handler:
    """Declare a handler that needs no token."""
    _PUBLIC.add(handler)
    return handler


def is_public(handler: Handler) -> bool:
    return handler in _PUBLIC


def required_scope(handler: Handler) -> Scope:
    return _REQUIRED.get(handler, Scope.ADMIN)


def allows(token: Token, scope: Scope) -> bool:
    return Scope.ADMIN in token.scopes or scope in token.scopes


async def authenticate(store: Store, authorization: str | None) -> Token:
    """The live token an `Authorization` header carries; Problem 401 if none."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    presented = secret_hash(secret)
    token = await store.token_by_hash(presented)
    if token is None or token.revoked:
        raise _unauthorized("the token is unknown or revoked")
    return token


def _authorization(request: web.Request) -> str | None:
    """The request's Authorization header; for a WebSocket handshake without
    one, `?access_token=` (a browser's WebSocket cannot set headers). Only
    there: elsewhere a token in a URL would end up in logs and histories."""
    header = request.headers.get("Authorization")
    if header is None and request.method == "GET" and \
            request.headers.get("Upgrade", "").lower() == "websocket":
        secret = request.query.get("access_token")
        return None if secret is None else f"Bearer {secret}"
    return header


def _unauthorized(detail: str) -> Problem:
    return Problem("unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate and authorize every request but the public ones."""
    matched = request.match_info.handler
    if request.path in PUBLIC_PATHS or matched in _PUBLIC or matched in _SELF_AUTHENTICATED:
        return await handler(request)
    token = await authenticate(request.app[STORE], _authorization(request))
    match = request.match_info
    if match.http_exception is None:  # a route matched: check its scope
        scope = required_scope(match.handler)
        if not allows(token, scope):
            raise Problem("forbidden", f"this needs a token with the {scope.value!r} scope")
    request[TOKEN] = token
    return await handler(request)
