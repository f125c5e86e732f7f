"""The one HTTP client port: every outbound request of a call goes through it.

SWAIG webhooks, data_map requests, the `request` verb, SWAIG includes and
post-call deliveries send an `HttpRequest` to an `HttpClient` and get an
`HttpResponse` or an `HttpError` naming what went wrong. `AiohttpClient` is
the real one (pooled connections, a read limit, the virtual clock told about
real I/O); `HandlerClient` is the double tests use, shaped like httpx's
MockTransport: a function answers each request.

Every request has a timeout and a size limit; messages never repeat the URL,
which may carry a key. An `AiohttpClient` given a `RequestSigner`
(interpreter/signing.py) signs every request it sends, each redirect hop to
the same origin anew (a hop to another origin goes unsigned, as it goes
without credentials).
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import aiohttp
from yarl import URL

from interpreter import limits
from interpreter.clock import real_io
from interpreter.destinations import DestinationPolicy, DestinationRefused, connector
from interpreter.jsontypes import JSONValue
from interpreter.signing import RequestSigner

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = limits.HTTP_REPLY_MAX_BYTES

HttpErrorKind = Literal["timeout", "connect", "disconnected", "cut_off", "redirects",
                        "invalid", "too_large", "refused"]
MAX_REDIRECTS = limits.HTTP_MAX_REDIRECTS
# Headers that may follow a redirect to another origin; credentials and the
# document's custom headers (an API key) never do.
_CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-language", "user-agent"})


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = DEFAULT_TIMEOUT  # the whole exchange, seconds
    connect_timeout: float | None = None
    follow_redirects: bool = False  # only data_map and the request verb follow them
    max_bytes: int = DEFAULT_MAX_BYTES  # a longer body is an error, unless `truncate`
    truncate: bool = False  # keep the first max_bytes instead (the request verb)

    @classmethod
    def json(cls, method: str, url: str, payload: JSONValue, *,
             headers: Mapping[str, str] | None = None, **options: object) -> HttpRequest:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(method, url, {"Content-Type": "application/json", **(headers or {})},
                   body, **options)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class HttpError(Exception):
    """The exchange did not complete; `kind` says how, in words for a trace."""

    def __init__(self, kind: HttpErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: HttpErrorKind = kind
        self.status = status


class HttpClient(Protocol):
    async def send(self, request: HttpRequest) -> HttpResponse: ...


class AiohttpClient:
    """The real client over one pooled aiohttp session (shared, or its own),
    under a destination policy (interpreter/destinations.py): where a session
    is given, its connector must carry the same policy (`destinations.connector`).
    With a `signer`, every request carries its signature headers."""

    def __init__(self, session: aiohttp.ClientSession | None = None, *,
                 policy: DestinationPolicy | None = None,
                 signer: RequestSigner | None = None) -> None:
        self._session = session
        self._owned: aiohttp.ClientSession | None = None
        self.policy = policy or DestinationPolicy.from_env()
        self.signer = signer

    def _client(self) -> aiohttp.ClientSession:
        if self._session is not None and not self._session.closed:
            return self._session
        if self._owned is None or self._owned.closed:
            self._owned = aiohttp.ClientSession(connector=connector(self.policy),
                                                cookie_jar=aiohttp.DummyCookieJar())
        return self._owned

    async def close(self) -> None:
        """Close the session this client opened itself (a shared one stays)."""
        if self._owned is not None:
            await self._owned.close()

    async def send(self, request: HttpRequest) -> HttpResponse:
        """One exchange; redirects (when the request follows them) are taken
        here, hop by hop, each under the policy, and a hop to another origin
        carries no credentials and none of the request's custom headers."""
        try:
            async with asyncio.timeout(request.timeout if request.timeout > 0 else None):
                with real_io():
                    return await self._exchange(request)
        except HttpError:
            raise
        except TimeoutError:  # also aiohttp's ServerTimeoutError
            raise HttpError("timeout", f"no reply within {request.timeout:g} seconds",
                            ) from None
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, DestinationRefused):
                raise HttpError("refused", f"{where(request.url)} refused: "
                                f"{error.os_error}") from None
            raise HttpError("connect", f"connection to {where(request.url)} failed") from None
        except (aiohttp.ClientError, OSError, ValueError) as error:
            kind, words = _classified(error)
            raise HttpError(kind, f"{words} ({where(request.url)})") from None

    async def _exchange(self, request: HttpRequest) -> HttpResponse:
        current = request
        message_id = self._message_id(request)
        origin = URL(request.url).origin()
        for _ in range(MAX_REDIRECTS + 1):
            self._check(current.url)
            headers = dict(current.headers)
            if message_id is not None and self.signer is not None \
                    and URL(current.url).origin() == origin:
                # Signed hop by hop: the body signed is the one this hop sends.
                headers = self.signer.signed(headers, current.body, message_id=message_id)
            async with self._client().request(
                    current.method, current.url, headers=headers,
                    data=current.body, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(connect=current.connect_timeout or None),
                    ) as response:
                location = response.headers.get("Location")
                if not (request.follow_redirects and location
                        and response.status in (301, 302, 303, 307, 308)):
                    body = await _read(response, current)
                    return HttpResponse(response.status, dict(response.headers), body)
                current = _redirected(current, response.status,
                                      str(response.url.join(URL(location))))
        raise HttpError("redirects", f"more than {MAX_REDIRECTS} redirects "
                        f"({where(request.url)})")

    def _message_id(self, request: HttpRequest) -> str | None:
        """One id for the request, through its redirects (None: unsigned)."""
        if self.signer is None:
            return None
        try:
            return self.signer.message_id(request.headers)
        except ValueError as error:
            raise HttpError("invalid", str(error)) from None

    def _check(self, url: str) -> None:
        """IP literals are checked here (a resolver never sees them)."""
        host = URL(url).host
        if host is None:
            raise HttpError("invalid", "a URL without a host")
        why = self.policy.why_refused(host.strip("[]")) if _is_ip(host) else None
        if why is not None:
            raise HttpError("refused", f"{where(url)} refused: {host.strip('[]')} is {why}")


async def _read(response: aiohttp.ClientResponse, request: HttpRequest) -> bytes:
    limit = request.max_bytes
    if not request.truncate and (response.content_length or 0) > limit:
        raise _too_large(limit, response.status)
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            if request.truncate:
                return bytes(body[:limit])
            raise _too_large(limit, response.status)
    return bytes(body)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def where(url: str) -> str:
    """host:port of a URL, for messages: never its path, query or credentials."""
    parsed = URL(url)
    if not parsed.host:
        return "an invalid URL"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _redirected(request: HttpRequest, status: int, target: str) -> HttpRequest:
    """The next hop: 303 (and 301/302 after a POST) become a GET without a
    body, as browsers do; another origin gets no credentials or custom headers."""
    same_origin = URL(target).origin() == URL(request.url).origin()
    headers = dict(request.headers) if same_origin else {
        k: v for k, v in request.headers.items() if k.lower() in _CROSS_ORIGIN_HEADERS}
    if status == 303 or (status in (301, 302) and request.method == "POST"):
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return replace(request, method="GET", url=target, headers=headers, body=None)
    return replace(request, url=target, headers=headers)


def _too_large(limit: int, status: int) -> HttpError:
    return HttpError("too_large", f"the reply is larger than {limit // 1024} KiB", status)


def _classified(error: BaseException) -> tuple[HttpErrorKind, str]:
    # Plain words for the common cases; str(error) of aiohttp's errors repeats the URL.
    match error:
        case aiohttp.ClientConnectorError():
            return "connect", "connection failed"
        case aiohttp.ServerDisconnectedError():
            return "disconnected", "the server closed the connection"
        case aiohttp.ClientPayloadError():
            return "cut_off", "the reply was cut off"
        case aiohttp.TooManyRedirects():
            return "redirects", "too many redirects"
        case aiohttp.InvalidURL() | ValueError():
            return "invalid", "invalid URL or request"
    return "connect", type(error).__name__


Handler = Callable[[HttpRequest], "HttpResponse | Awaitable[HttpResponse]"]


class HandlerClient:
    """A client whose answers come from `handler` (it may raise HttpError, or
    anything else, to fail the exchange); it keeps every request it got."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        answer = self.handler(request)
        response = await answer if inspect.isawaitable(answer) else answer
        assert isinstance(response, HttpResponse)
        if len(response.body) > request.max_bytes and not request.truncate:
            raise _too_large(request.max_bytes, response.status)
        return response
