"""Transfers on a media-stream call, through the provider's call-control REST API.

A media stream carries the caller's audio, not the call: to reach another
party the provider must move the call. `CallControl` is that port, bound to
one provider call; `TwilioCallControl` redirects the live call to
`<Dial>` TwiML (Twilio's Calls resource; SignalWire's Compatibility API has
the same shape under the space's `/api/laml`), `TelnyxCallControl` sends the
`transfer` call command. Both go through the project's `HttpClient`, so the
request has a timeout and obeys the server's destination policy.

`ProviderTelephony` turns the runtime's `dial` into one such request. A
transfer hands the caller away, so its outcome is what the provider said to
the request, not whether the destination answered (that would need the
provider's status webhooks): 2xx — the leg is reported answered and the
provider carries the bridge; the stream then ends from the provider's side.
A refusal, an error status, a timeout or an unreachable API — the leg is
reported failed with a classified reason, and the flow's failure branch runs.
docs/media-streams.md ("Transfers") says which dialect does what.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from interpreter.http import HttpClient, HttpError, HttpRequest, HttpResponse
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import CallerChannel, LegSink, Telephony
from interpreter.transports.media_stream.telephony import NoCallControl

LOGGER = logging.getLogger("callkernel.media_stream.call_control")
TWILIO_API = "https://api.twilio.com"
TELNYX_API = "https://api.telnyx.com/v2"
REQUEST_TIMEOUT = 10.0  # seconds for the provider to accept or refuse a transfer
MAX_REPLY_BYTES = 64 * 1024
# Where a call may be transferred: an E.164 number or a SIP URI, nothing a
# provider would read as markup or as another command.
_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}")
_SIP = re.compile(r"sips?:[A-Za-z0-9_.!~*'()&=+$,;?/%-]+@[A-Za-z0-9.:\[\]-]+")

# The reason a leg fails with, by the provider's HTTP status.
_REASONS: Mapping[int, str] = {
    400: "rejected", 401: "unauthorized", 403: "unauthorized", 404: "call_not_found",
    408: "timeout", 409: "rejected", 422: "rejected", 429: "rate_limited",
}


class TransferRefused(Exception):
    """The provider did not take the transfer; `reason` is the leg's failure reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CallControl(Protocol):
    """One provider call's control: hand it to another party."""

    @property
    def provider(self) -> str: ...

    async def transfer(self, destination: str, ring_timeout: float) -> None:
        """Ask the provider to connect the caller with `destination` (ringing
        for at most `ring_timeout` s); returns once the provider accepted,
        raises `TransferRefused` otherwise."""


@dataclass(frozen=True, slots=True)
class ProviderCredentials:
    """What the server holds to reach one provider's REST API.

    Twilio: the AccountSid and auth token. SignalWire: the project id, an API
    token and the space (`example` for example.signalwire.com). Telnyx: the
    API key as `token`. `base_url` replaces the provider's API root (a
    regional edge, or a fake in tests)."""

    token: str
    account_id: str = ""
    space: str = ""
    base_url: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"ProviderCredentials(account_id={self.account_id!r}, space={self.space!r})"


def valid_destination(destination: str) -> bool:
    return bool(_NUMBER.fullmatch(destination) or _SIP.fullmatch(destination))


class TwilioCallControl:
    """Twilio's (and SignalWire's Compatibility API's) Calls resource: the live
    call is redirected to `<Dial>` TwiML, which leaves `<Connect><Stream>`."""

    def __init__(self, http: HttpClient, credentials: ProviderCredentials, call_sid: str, *,
                 api_root: str = TWILIO_API, provider: str = "twilio",
                 timeout: float = REQUEST_TIMEOUT) -> None:
        self._http, self._credentials, self._call_sid = http, credentials, call_sid
        self._root, self._provider, self._timeout = api_root.rstrip("/"), provider, timeout

    @property
    def provider(self) -> str:
        return self._provider

    def url(self) -> str:
        account = quote(self._credentials.account_id, safe="")
        return (f"{self._root}/2010-04-01/Accounts/{account}/Calls/"
                f"{quote(self._call_sid, safe='')}.json")

    async def transfer(self, destination: str, ring_timeout: float) -> None:
        target = escape(destination)
        inner = f"<Sip>{target}</Sip>" if destination.startswith("sip") else target
        # <Dial timeout> is whole seconds, 5..600.
        seconds = min(600, max(5, round(ring_timeout)))
        twiml = f'<Response><Dial timeout="{seconds}">{inner}</Dial></Response>'
        secret = f"{self._credentials.account_id}:{self._credentials.token}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(secret).decode(),
                   "Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        body = urlencode({"Twiml": twiml}).encode()
        await _send(self._http, HttpRequest("POST", self.url(), headers, body,
                                            timeout=self._timeout,
                                            max_bytes=MAX_REPLY_BYTES), _twilio_detail)


class TelnyxCallControl:
    """Telnyx's call commands: `transfer` bridges the call to a new leg."""

    def __init__(self, http: HttpClient, credentials: ProviderCredentials,
                 call_control_id: str, *, api_root: str = TELNYX_API,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        self._http, self._credentials, self._id = http, credentials, call_control_id
        self._root, self._timeout = api_root.rstrip("/"), timeout

    @property
    def provider(self) -> str:
        return "telnyx"

    def url(self) -> str:
        return f"{self._root}/calls/{quote(self._id, safe='')}/actions/transfer"

    async def transfer(self, destination: str, ring_timeout: float) -> None:
        payload: JSONValue = {"to": destination,
                              "timeout_secs": min(600, max(5, round(ring_timeout)))}
        request = HttpRequest.json("POST", self.url(), payload, headers={
            "Authorization": f"Bearer {self._credentials.token}", "Accept": "application/json"},
            timeout=self._timeout, max_bytes=MAX_REPLY_BYTES)
        await _send(self._http, request, _telnyx_detail)


async def _send(http: HttpClient, request: HttpRequest,
                detail: Callable[[HttpResponse], str]) -> None:
    try:
        response = await http.send(request)
    except HttpError as error:
        reason = "timeout" if error.kind == "timeout" else "unreachable"
        raise TransferRefused(reason, f"{error.kind}: {error}") from None
    if response.ok:
        return
    reason = _REASONS.get(response.status,
                          "provider_error" if response.status >= 500 else "rejected")
    raise TransferRefused(reason, f"HTTP {response.status}: {detail(response)}")


def _json(response: HttpResponse) -> object:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def _twilio_detail(response: HttpResponse) -> str:
    """Twilio's error body: {"code", "message", "more_info", "status"}."""
    body = _json(response)
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('code', '')} {body['message']}".strip()
    return response.text()[:200]


def _telnyx_detail(response: HttpResponse) -> str:
    """Telnyx's error body: {"errors": [{"code", "title", "detail"}]}."""
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return " ".join(str(first[k]) for k in ("code", "title", "detail") if first.get(k))
    return response.text()[:200]


def call_control_for(dialect: str, credentials: Mapping[str, ProviderCredentials],
                     provider_call_id: str, http: HttpClient) -> CallControl | None:
    """The call control of a stream of `dialect` for the provider's call id
    (the stream's `callSid` or `call_control_id`); None where the dialect has
    none, or the server holds no credentials for it."""
    held = credentials.get(dialect)
    if held is None or not held.token or not provider_call_id:
        return None
    match dialect:
        case "twilio":
            return TwilioCallControl(http, held, provider_call_id,
                                     api_root=held.base_url or TWILIO_API)
        case "signalwire" if held.base_url or held.space:
            root = held.base_url or f"https://{held.space}.signalwire.com/api/laml"
            return TwilioCallControl(http, held, provider_call_id, api_root=root,
                                     provider="signalwire")
        case "telnyx":
            return TelnyxCallControl(http, held, provider_call_id,
                                     api_root=held.base_url or TELNYX_API)
    return None


def telephony_for(dialect: str, credentials: Mapping[str, ProviderCredentials],
                  provider_call_id: str, http: HttpClient) -> Telephony:
    """A media-stream call's `Telephony`: transfers through the provider where
    it can, else `NoCallControl` (every dial fails)."""
    control = call_control_for(dialect, credentials, provider_call_id, http)
    return NoCallControl() if control is None else ProviderTelephony(control)


# ------------------------------------------------------------------ the Telephony


@dataclass(slots=True)
class Transfer:
    """One dial carried out as a transfer, and where it stands."""

    destination: str
    sink: LegSink
    status: str = "dialing"  # → "answered" (the provider took it) | "failed" | "ended"
    reason: str = ""  # why it failed
    handed_off: bool = False  # the provider accepted: the caller is the destination's
    task: asyncio.Task[None] | None = None


class ProviderTelephony:
    """A `Telephony` whose dial is a transfer through the provider's call control.

    The call can be handed away once: after a transfer was accepted, every
    further dial fails ("already_transferred"). An accepted leg has no media
    here (the provider bridges it), so a `confirm` section cannot run on it."""

    def __init__(self, control: CallControl) -> None:
        self.control = control
        self.transfers: dict[str, Transfer] = {}  # by leg id, in dial order
        self.bridged: list[str] = []

    @property
    def transferred_to(self) -> str | None:
        """Where the caller was handed, once the provider accepted a transfer."""
        return next((t.destination for t in self.transfers.values() if t.handed_off), None)

    def dial(self, leg_id: str, destination: str, timeout: float, sink: LegSink) -> None:
        if leg_id in self.transfers:
            raise ValueError(f"leg {leg_id!r} was already dialed")
        pending = any(t.status == "dialing" for t in self.transfers.values())
        transfer = self.transfers[leg_id] = Transfer(destination, sink)
        loop = asyncio.get_running_loop()
        # A call is handed away once, to one destination: a leg dialed after
        # (a later connect) or beside it (parallel ringing) cannot follow it.
        refusal = "already_transferred" if self.transferred_to is not None else \
            "transfer_in_progress" if pending else \
            "invalid_destination" if not valid_destination(destination) else None
        if refusal is not None:
            self._failed(transfer, refusal)
            loop.call_soon(sink.leg_failed, leg_id, refusal)
            return
        transfer.task = loop.create_task(self._transfer(leg_id, transfer, timeout, sink),
                                         name=f"transfer:{leg_id}")

    async def _transfer(self, leg_id: str, transfer: Transfer, timeout: float,
                        sink: LegSink) -> None:
        try:
            await self.control.transfer(transfer.destination, timeout)
        except TransferRefused as refused:
            LOGGER.info("%s refused the transfer of %s: %s", self.control.provider, leg_id,
                        refused.detail)
            self._failed(transfer, refused.reason)
            sink.leg_failed(leg_id, refused.reason)
            return
        transfer.status, transfer.handed_off = "answered", True
        sink.leg_answered(leg_id)

    @staticmethod
    def _failed(transfer: Transfer, reason: str) -> None:
        transfer.status, transfer.reason = "failed", reason

    def query(self, leg_id: str) -> None:
        """What the provider said to the request is all that is known here."""
        transfer = self._transfer_of(leg_id)
        asyncio.get_running_loop().call_soon(transfer.sink.leg_status, leg_id, transfer.status)

    def channel(self, leg_id: str) -> CallerChannel:
        raise LookupError(f"leg {leg_id!r} is the provider's: a transferred call's media "
                          "never comes here, so no confirm section can run on it")

    def bridge(self, leg_id: str) -> None:
        """The provider already connects the caller with the destination."""
        self._transfer_of(leg_id)
        self.bridged.append(leg_id)

    def hangup(self, leg_id: str) -> None:
        """A pending request is abandoned (the provider may still carry it out,
        if it had arrived); a handed-off caller stays with the destination —
        the call is the provider's now. Either way the leg ends here."""
        transfer = self._transfer_of(leg_id)
        if transfer.status in ("failed", "ended"):
            return
        if transfer.task is not None and not transfer.task.done():
            transfer.task.cancel()
        transfer.status = "ended"
        asyncio.get_running_loop().call_soon(transfer.sink.leg_ended, leg_id)

    async def close(self) -> None:
        """Cancel requests still in flight."""
        tasks = [t.task for t in self.transfers.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _transfer_of(self, leg_id: str) -> Transfer:
        try:
            return self.transfers[leg_id]
        except KeyError:
            raise KeyError(f"no leg {leg_id!r} was dialed") from None


if TYPE_CHECKING:  # mypy proves each implementation satisfies its port

    def _conforms(http: HttpClient, credentials: ProviderCredentials,
                  control: CallControl) -> tuple[CallControl, CallControl, Telephony]:
        return (TwilioCallControl(http, credentials, ""),
                TelnyxCallControl(http, credentials, ""), ProviderTelephony(control))
