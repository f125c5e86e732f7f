"""The one event model every media-stream dialect maps to.

Inbound (provider → callkernel): `Connected`, `Started`, `Media`, `Dtmf`,
`MarkAcked`, `Stopped`, `ProviderError`; a message that cannot be read is a
`ProtocolError` value saying what was wrong, never an exception. Outbound
(callkernel → provider): `OutboundMedia`, `OutboundMark`, `Clear`, and
`CallNamed` where the dialect announces its calls. The
dialects (dialects.py) turn these into and out of each provider's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from interpreter.media.ports import AudioFormat


def _no_parameters() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Connected:
    """The socket is the provider's: the first message."""

    version: str = ""


@dataclass(frozen=True, slots=True)
class Started:
    """The stream's metadata, once, before any media."""

    stream_id: str
    call_id: str  # Twilio/SignalWire callSid, Telnyx call_control_id
    format: AudioFormat
    custom_parameters: Mapping[str, str] = field(default_factory=_no_parameters)
    account_id: str = ""
    from_: str = ""  # known on Telnyx; Twilio passes it as a custom parameter if at all
    to: str = ""
    session_id: str = ""  # Telnyx call_session_id
    tracks: tuple[str, ...] = ("inbound",)


@dataclass(frozen=True, slots=True)
class Media:
    """One inbound frame: `sequence` orders it (the chunk where the dialect
    numbers chunks, else the message's sequence number)."""

    sequence: int
    timestamp_ms: int
    payload: bytes
    track: str = "inbound"


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkAcked:
    """The provider reached the mark `name`: it played everything before it,
    or a `clear` dropped it (only we know which: we know when we cleared)."""

    name: str


@dataclass(frozen=True, slots=True)
class Stopped:
    """The provider ended the stream (the call hung up or the stream was stopped)."""


@dataclass(frozen=True, slots=True)
class ProviderError:
    """The provider reported an error on the stream (Telnyx's `error` event)."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """A message that could not be read: what was wrong with it."""

    what: str


InboundEvent = Connected | Started | Media | Dtmf | MarkAcked | Stopped | ProviderError


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """Audio to play, in the stream's format (one 20 ms frame)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboundMark:
    name: str


@dataclass(frozen=True, slots=True)
class Clear:
    """Drop everything queued and not yet played (barge-in)."""


@dataclass(frozen=True, slots=True)
class CallNamed:
    """The call the stream carries, by callkernel's id: sent first, in the
    `callkernel` dialect only (a provider knows its calls by its own ids;
    the softphone follows its call by this one)."""

    call_id: str


OutboundEvent = OutboundMedia | OutboundMark | Clear | CallNamed
