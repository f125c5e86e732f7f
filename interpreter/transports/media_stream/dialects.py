"""Each provider's media-stream JSON, to and from the one event model.

Four dialects of one protocol (Twilio's Media Streams, as Twilio documents
its WebSocket messages):

- `twilio`: camelCase (`streamSid`, `sequenceNumber`, `mediaFormat`),
  base64 μ-law at 8 kHz (`audio/x-mulaw`);
- `signalwire`: the Twilio shape (cXML `<Stream>`), plus linear PCM
  (`audio/x-L16`) at 16 or 24 kHz; a message wrapped as SignalWire's
  documentation shows (`{..., "rawEvent": {...}}`) is unwrapped;
- `telnyx`: snake_case (`stream_id`, `sequence_number`, `media_format`,
  `call_control_id`), `PCMU`/`PCMA`/`L16`, an `error` event, and outbound
  messages without a stream id (as Pipecat's Telnyx serializer sends them);
- `callkernel`: the Twilio shape with `audio/x-L16` at 16 kHz, for the
  browser softphone; its first outbound message, `call`, names the call
  (`{"event": "call", "call": {"callId": ...}, "streamSid": ...}`).

Telnyx's L16 is big-endian: Telnyx delivers "base64-encoded RTP payload",
and RTP carries L16 in network byte order (RFC 3551). SignalWire's and the
softphone's L16 is taken as little-endian (as the media path and a
browser's Int16Array hold it); SignalWire's byte order is not verified
(docs/media-streams.md).

Reading is defensive: a message's length, a payload's size, every field's
type, the digits, the formats and the custom parameters are checked, and
whatever is wrong comes back as a `ProtocolError` value naming it. Nothing
here raises on input from the socket.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from interpreter.media.ports import AudioFormat
from interpreter.transports.media_stream.events import (
    CallNamed,
    Clear,
    Connected,
    Dtmf,
    InboundEvent,
    MarkAcked,
    Media,
    OutboundEvent,
    OutboundMark,
    OutboundMedia,
    ProtocolError,
    ProviderError,
    Started,
    Stopped,
)

# A media message carries 20 ms (960 bytes at most: L16 at 24 kHz); a
# provider that batches may send a little more. Anything far past it is not
# audio we can use, and a message past MAX_MESSAGE_CHARS is not read at all.
MAX_PAYLOAD_BYTES = 8 * 1024
MAX_MESSAGE_CHARS = 32 * 1024
MAX_PARAMETERS = 32  # custom parameters a start may carry
MAX_PARAMETER_CHARS = 1024  # a parameter's name or value
MAX_NAME_CHARS = 128  # a mark's name, a stream or call id
DIGITS = frozenset("0123456789*#ABCD")

Naming = Literal["camel", "snake"]


@dataclass(frozen=True, slots=True)
class _Fields:
    """One naming's field names."""

    sequence: str
    stream: str
    media_format: str
    sample_rate: str
    parameters: str
    call: str
    account: str


_CAMEL = _Fields("sequenceNumber", "streamSid", "mediaFormat", "sampleRate",
                 "customParameters", "callSid", "accountSid")
_SNAKE = _Fields("sequence_number", "stream_id", "media_format", "sample_rate",
                 "custom_parameters", "call_control_id", "user_id")


@dataclass(frozen=True, slots=True)
class Dialect:
    """One provider's wire format."""

    name: str
    naming: Naming
    # Wire encoding name (lower case) → (our encoding, the rates it may have).
    encodings: Mapping[str, tuple[Literal["pcm16", "pcm16be", "mulaw", "alaw"],
                                  tuple[int, ...]]]
    default_format: AudioFormat
    unwrap: bool = False  # accept SignalWire's {"rawEvent": {...}} wrapper
    outbound_stream_id: bool = True  # outbound messages name the stream
    announces_call: bool = False  # a `call` message names the call first (CallNamed)

    @property
    def fields(self) -> _Fields:
        return _CAMEL if self.naming == "camel" else _SNAKE

    # ------------------------------------------------------------ reading

    def parse(self, text: str | bytes) -> InboundEvent | ProtocolError:
        """One provider message → an event, or what was wrong with it."""
        message = _load(text)
        if isinstance(message, ProtocolError):
            return message
        if self.unwrap and isinstance(message.get("rawEvent"), dict):
            message = message["rawEvent"]
        try:
            return self._event(message)
        except _Bad as bad:
            return ProtocolError(str(bad))

    def _event(self, message: dict[str, Any]) -> InboundEvent:
        f = self.fields
        event = _text(message, "event", "the message")
        match event:
            case "connected":
                return Connected(_text(message, "version", "connected", optional=True))
            case "start":
                return self._started(message)
            case "media":
                media = _object(message, "media", "media")
                chunk = _number(media, "chunk", "media", optional=True)
                sequence = chunk if chunk is not None else \
                    _number(message, f.sequence, "media")
                assert sequence is not None
                return Media(sequence, _number(media, "timestamp", "media", optional=True) or 0,
                             _payload(media), _text(media, "track", "media", optional=True)
                             or "inbound")
            case "dtmf":
                digit = _text(_object(message, "dtmf", "dtmf"), "digit", "dtmf").upper()
                if digit not in DIGITS:
                    raise _Bad(f"dtmf: {digit[:8]!r} is not a DTMF digit")
                return Dtmf(digit)
            case "mark":
                return MarkAcked(_name(_object(message, "mark", "mark"), "name", "mark"))
            case "stop":
                return Stopped()
            case "error" if self.naming == "snake":
                error = message.get("payload", message.get("error"))
                error = error if isinstance(error, dict) else {}
                code = error.get("code", "")
                detail = error.get("detail", error.get("title", ""))
                return ProviderError(str(code)[:MAX_NAME_CHARS],
                                     str(detail)[:MAX_PARAMETER_CHARS])
        raise _Bad(f"unknown event {event[:32]!r} for the {self.name} dialect")

    def _started(self, message: dict[str, Any]) -> Started:
        f = self.fields
        start = _object(message, "start", "start")
        stream_id = _name(message, f.stream, "start", optional=True) or \
            _name(start, f.stream, "start", optional=True)
        if not stream_id:
            raise _Bad(f"start: no {f.stream}")
        raw_format = _object(start, f.media_format, "start")
        encoding = _text(raw_format, "encoding", f"start.{f.media_format}")
        rate = _number(raw_format, f.sample_rate, f"start.{f.media_format}")
        channels = _number(raw_format, "channels", f"start.{f.media_format}",
                           optional=True) or 1
        known = self.encodings.get(encoding.lower())
        if known is None:
            raise _Bad(f"start: the {self.name} dialect does not carry "
                       f"{encoding[:32]!r} audio")
        ours, rates = known
        if rate not in rates:
            raise _Bad(f"start: {encoding} at {rate} Hz (the {self.name} dialect "
                       f"carries it at {', '.join(map(str, rates))} Hz)")
        if channels != 1:
            raise _Bad(f"start: {channels} channels; the stream must be mono "
                       "(inbound track only)")
        tracks = start.get("tracks", ["inbound"])
        if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
            raise _Bad("start: tracks is not a list of names")
        return Started(
            stream_id=stream_id,
            call_id=_name(start, f.call, "start", optional=True),
            format=AudioFormat(ours, rate),
            custom_parameters=_parameters(start.get(f.parameters)),
            account_id=_name(start, f.account, "start", optional=True),
            from_=_name(start, "from", "start", optional=True),
            to=_name(start, "to", "start", optional=True),
            session_id=_name(start, "call_session_id", "start", optional=True),
            tracks=tuple(t[:MAX_NAME_CHARS] for t in tracks[:4]))

    def parse_outbound(self, text: str | bytes) -> OutboundEvent | ProtocolError:
        """What callkernel sent, read back (the provider's side: the test peer)."""
        message = _load(text)
        if isinstance(message, ProtocolError):
            return message
        try:
            match _text(message, "event", "the message"):
                case "media":
                    return OutboundMedia(_payload(_object(message, "media", "media")))
                case "mark":
                    return OutboundMark(_name(_object(message, "mark", "mark"), "name", "mark"))
                case "clear":
                    return Clear()
                case "call" if self.announces_call:
                    return CallNamed(_name(_object(message, "call", "call"), "callId", "call"))
                case other:
                    raise _Bad(f"unknown outbound event {other[:32]!r}")
        except _Bad as bad:
            return ProtocolError(str(bad))

    # ------------------------------------------------------------ writing

    def encode(self, event: OutboundEvent, stream_id: str) -> str:
        """An outbound event as this provider wants it."""
        match event:
            case OutboundMedia(payload=payload):
                body: dict[str, Any] = {"event": "media",
                                        "media": {"payload": _b64(payload)}}
            case OutboundMark(name=name):
                body = {"event": "mark", "mark": {"name": name}}
            case Clear():
                body = {"event": "clear"}
            case CallNamed(call_id=call_id):
                body = {"event": "call", "call": {"callId": call_id}}
        if self.outbound_stream_id:
            body[self.fields.stream] = stream_id
        return json.dumps(body, separators=(",", ":"))

    def encode_inbound(self, event: InboundEvent, stream_id: str, sequence: int) -> str:
        """An inbound event as the provider sends it (the provider's side: the
        test peer, a simulated provider)."""
        f = self.fields
        body: dict[str, Any] = {f.sequence: str(sequence), f.stream: stream_id}
        match event:
            case Connected(version=version):
                body = {"event": "connected", "version": version}
                if self.naming == "camel":
                    body["protocol"] = "Call"
            case Started() as started:
                body["event"] = "start"
                body["start"] = self._start_body(started)
            case Media(sequence=chunk, timestamp_ms=timestamp, payload=payload, track=track):
                body["event"] = "media"
                body["media"] = {"track": track, "chunk": str(chunk),
                                 "timestamp": str(timestamp), "payload": _b64(payload)}
            case Dtmf(digit=digit):
                body["event"] = "dtmf"
                body["dtmf"] = {"track": "inbound_track", "digit": digit}
            case MarkAcked(name=name):
                body["event"] = "mark"
                body["mark"] = {"name": name}
            case Stopped():
                body["event"] = "stop"
                body["stop"] = {}
            case ProviderError(code=code, detail=detail):
                body["event"] = "error"
                body["payload"] = {"code": code, "title": detail, "detail": detail}
        return json.dumps(body, separators=(",", ":"))

    def _start_body(self, started: Started) -> dict[str, Any]:
        f = self.fields
        wire = next(name for name, (ours, rates) in self.encodings.items()
                    if ours == started.format.encoding and started.format.sample_rate in rates)
        if self.naming == "camel":
            wire = {"audio/x-mulaw": "audio/x-mulaw", "audio/x-l16": "audio/x-L16"}[wire]
        else:
            wire = wire.upper()
        body: dict[str, Any] = {
            f.stream: started.stream_id, f.call: started.call_id,
            f.account: started.account_id, "tracks": list(started.tracks),
            f.parameters: dict(started.custom_parameters),
            f.media_format: {"encoding": wire, f.sample_rate: started.format.sample_rate,
                             "channels": 1}}
        if self.naming == "snake":
            body.update({"from": started.from_, "to": started.to,
                         "call_session_id": started.session_id})
        return body


_G711 = (8000,)
_LINEAR = (8000, 16000, 24000)

TWILIO = Dialect("twilio", "camel", MappingProxyType({"audio/x-mulaw": ("mulaw", _G711)}),
                 AudioFormat("mulaw", 8000))
SIGNALWIRE = Dialect("signalwire", "camel", MappingProxyType({
    "audio/x-mulaw": ("mulaw", _G711), "audio/x-l16": ("pcm16", (16000, 24000))}),
    AudioFormat("mulaw", 8000), unwrap=True)
TELNYX = Dialect("telnyx", "snake", MappingProxyType({
    "pcmu": ("mulaw", _G711), "pcma": ("alaw", _G711), "l16": ("pcm16be", _LINEAR)}),
    AudioFormat("mulaw", 8000), outbound_stream_id=False)
CALLKERNEL = Dialect("callkernel", "camel",
                     MappingProxyType({"audio/x-l16": ("pcm16", (16000,))}),
                     AudioFormat("pcm16", 16000), announces_call=True)
DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {d.name: d for d in (TWILIO, SIGNALWIRE, TELNYX, CALLKERNEL)})


def sniff(text: str | bytes) -> Dialect:
    """The dialect a message looks like, for a socket whose path did not say:
    snake_case fields are Telnyx's, a `rawEvent` wrapper or linear PCM
    SignalWire's, anything else Twilio's."""
    message = _load(text)
    if isinstance(message, ProtocolError):
        return TWILIO
    if "stream_id" in message or "sequence_number" in message:
        return TELNYX
    if isinstance(message.get("rawEvent"), dict):
        return SIGNALWIRE
    start = message.get("start")
    media_format = start.get("mediaFormat") if isinstance(start, dict) else None
    encoding = media_format.get("encoding") if isinstance(media_format, dict) else None
    if isinstance(encoding, str) and encoding.lower() == "audio/x-l16":
        return SIGNALWIRE
    return TWILIO


# ------------------------------------------------------------------ field checks


class _Bad(Exception):
    """Inside this module only: what is wrong, on its way to a ProtocolError."""


def _load(text: str | bytes) -> dict[str, Any] | ProtocolError:
    if len(text) > MAX_MESSAGE_CHARS:
        return ProtocolError(f"a message of {len(text)} characters: over the "
                             f"{MAX_MESSAGE_CHARS} limit")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        return ProtocolError(f"not JSON: {str(error)[:80]}")
    if not isinstance(message, dict):
        return ProtocolError(f"a JSON {type(message).__name__}, not an object")
    return message


def _object(message: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise _Bad(f"{where}: {key} is missing or not an object")
    return value


def _text(message: Mapping[str, Any], key: str, where: str, *,
          optional: bool = False) -> str:
    value = message.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{where}: {key} is missing or not a string")
    return value


def _name(message: Mapping[str, Any], key: str, where: str, *,
          optional: bool = False) -> str:
    value = _text(message, key, where, optional=optional)
    if len(value) > MAX_NAME_CHARS:
        raise _Bad(f"{where}: {key} is {len(value)} characters (at most {MAX_NAME_CHARS})")
    return value


def _number(message: Mapping[str, Any], key: str, where: str, *,
            optional: bool = False) -> int | None:
    """A whole number ≥ 0, sent as a number or (as Twilio does) a string of digits."""
    value = message.get(key)
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise _Bad(f"{where}: {key} is missing or not a whole number")


def _payload(media: Mapping[str, Any]) -> bytes:
    text = _text(media, "payload", "media")
    if len(text) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise _Bad(f"media: a payload of {len(text)} base64 characters (at most "
                   f"{MAX_PAYLOAD_BYTES} bytes)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("media: the payload is not base64") from None


def _parameters(raw: object) -> Mapping[str, str]:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        raise _Bad("start: the custom parameters are not an object")
    if len(raw) > MAX_PARAMETERS:
        raise _Bad(f"start: {len(raw)} custom parameters (at most {MAX_PARAMETERS})")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _Bad(f"start: custom parameter {str(key)[:32]!r} is not text")
        text = str(value)
        if len(key) > MAX_PARAMETER_CHARS or len(text) > MAX_PARAMETER_CHARS:
            raise _Bad(f"start: custom parameter {key[:32]!r} is over "
                       f"{MAX_PARAMETER_CHARS} characters")
        out[key] = text
    return MappingProxyType(out)


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")
