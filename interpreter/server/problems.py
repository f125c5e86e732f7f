"""Errors as RFC 7807 problem documents, and the middleware that makes every
error one.

A client sees `application/problem+json` for every failure, 404 and 405 and
500 included: `{"type", "title", "status", "detail", "code"}`, plus `errors`
(the diagnostics, shaped as `callkernel lint --format json` prints them) when
a document was refused. `code` is the stable part a client branches on; the
title and detail are for people. A handler raises `Problem`; the middleware
also maps the store's errors and aiohttp's own HTTP errors, and turns anything
unexpected into a logged 500 whose body carries no traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from interpreter.diagnostics import Diagnostic
from interpreter.jsontypes import JSONValue
from interpreter.redaction import redact_value
from interpreter.server.store import Conflict, NotFound, StoreError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://callkernel.dev/problems/"

log = logging.getLogger("callkernel.server")

# Every stable code, its status and its title: one table, listed in the
# OpenAPI document and docs/rest-api.md.
CODES: dict[str, tuple[int, str]] = {
    "invalid-request": (400, "The request is malformed"),
    "invalid-flow-name": (400, "Invalid flow name"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "The token lacks the scope this needs"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "not-acceptable": (406, "Not acceptable"),
    "conflict": (409, "Conflict"),
    "call-ended": (409, "The call has ended"),
    "not-on-hold": (409, "The call is not on hold"),
    "unknown-leg": (409, "The call has no such leg"),
    "request-timeout": (408, "The request body did not arrive in time"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "invalid-document": (422, "The document has errors"),
    "invalid-routes": (422, "The routing table has errors"),
    "internal-error": (500, "Internal server error"),
    "store-unavailable": (503, "The store is not answering"),
    "shutting-down": (503, "The server is shutting down"),
    "too-many-calls": (503, "As many calls are live as the server takes"),
}


class Problem(Exception):
    """An error a handler answers with: a stable code and a human detail."""

    def __init__(self, code: str, detail: str, *,
                 errors: Sequence[Diagnostic] = (),
                 headers: dict[str, str] | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"{code} is not a problem code")
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return CODES[self.code][0]


def diagnostic_json(diagnostic: Diagnostic) -> JSONValue:
    """One diagnostic as `callkernel lint --format json` prints it (credentials
    in quoted URLs removed the same way)."""
    shown: JSONValue = redact_value(diagnostic.as_json())
    return shown


def problem_response(code: str, detail: str, *, errors: Sequence[Diagnostic] = (),
                     headers: dict[str, str] | None = None) -> web.Response:
    status, title = CODES[code]
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": title, "status": status,
                            "detail": detail, "code": code}
    if errors:
        body["errors"] = [diagnostic_json(d) for d in errors]
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type=PROBLEM_JSON, headers=headers)


# aiohttp raises these itself (no route, wrong method, body over client_max_size).
_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large",
               415: "unsupported-media-type", 400: "invalid-request"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error out of the handlers as a problem document."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem.code, problem.detail, errors=problem.errors,
                                headers=problem.headers)
    except NotFound as error:
        return problem_response("not-found", str(error) or "no such resource")
    except Conflict as error:
        return problem_response("conflict", str(error) or "conflicts with the current state")
    except StoreError:
        log.exception("store failure in %s %s", request.method, request.path)
        return problem_response("store-unavailable", "the store failed; it has been logged")
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects and successes raised as exceptions pass through
        code = _HTTP_CODES.get(error.status)
        if code is None:
            code = "internal-error" if error.status >= 500 else "invalid-request"
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return problem_response(code, _http_detail(request, error), headers=headers)
    except ConnectionResetError:
        # The client went away mid-request: nobody is left to answer, and it
        # is no fault of the server's (not a 500 in the log).
        log.info("client went away during %s %s", request.method, request.path)
        return problem_response("invalid-request", "the connection was lost mid-request")
    except Exception:
        # The traceback goes to the log, never to the client.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem_response("internal-error", "an unexpected error occurred; "
                                "it has been logged")


def _http_detail(request: web.Request, error: web.HTTPException) -> str:
    if error.status == 404:
        return f"no route for {request.path}"
    if error.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    return error.text or error.reason
