"""Each provider's media-stream JSON: round trips through the one event
model, the fields each dialect names, and malformed input as a classified
`ProtocolError`, never an exception."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from interpreter.media.ports import AudioFormat
from interpreter.transports.media_stream.dialects import (
    CALLKERNEL,
    DIALECTS,
    MAX_MESSAGE_CHARS,
    MAX_PAYLOAD_BYTES,
    SIGNALWIRE,
    TELNYX,
    TWILIO,
    Dialect,
    sniff,
)
from interpreter.transports.media_stream.events import (
    CallNamed,
    Clear,
    Connected,
    Dtmf,
    InboundEvent,
    MarkAcked,
    Media,
    OutboundMark,
    OutboundMedia,
    ProtocolError,
    ProviderError,
    Started,
    Stopped,
)

FORMATS = {"twilio": AudioFormat("mulaw", 8000), "signalwire": AudioFormat("pcm16", 24000),
           "telnyx": AudioFormat("alaw", 8000), "callkernel": AudioFormat("pcm16", 16000)}


def _events(dialect: Dialect) -> list[InboundEvent]:
    snake = dialect.naming == "snake"
    events: list[InboundEvent] = [
        Connected("1.0.0"),
        Started("MZ1", "CA1", FORMATS[dialect.name],
                MappingProxyType({"flow": "support", "caller": "+1555"}), account_id="AC1",
                from_="+15550001" if snake else "", to="+15550002" if snake else "",
                session_id="sess" if snake else ""),
        Media(7, 120, b"\x01\xff" * 80),
        Dtmf("5"), Dtmf("#"), MarkAcked("w0-3-3"), Stopped()]
    if snake:
        events.append(ProviderError("100003", "malformed frame"))
    return events


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=list(DIALECTS))
def test_every_inbound_event_survives_a_round_trip(dialect: Dialect) -> None:
    for n, event in enumerate(_events(dialect), 1):
        assert dialect.parse(dialect.encode_inbound(event, "MZ1", n)) == event


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=list(DIALECTS))
def test_outbound_media_marks_and_clear_read_back(dialect: Dialect) -> None:
    for event in (OutboundMedia(b"\x00\x7f" * 160), OutboundMark("w1-2-9"), Clear()):
        assert dialect.parse_outbound(dialect.encode(event, "MZ1")) == event


def test_only_the_callkernel_dialect_names_the_call_to_its_peer() -> None:
    named = CallNamed("4aa1375a-d8d2")
    encoded = CALLKERNEL.encode(named, "MZ1")
    assert json.loads(encoded) == {"event": "call", "call": {"callId": "4aa1375a-d8d2"},
                                   "streamSid": "MZ1"}
    assert CALLKERNEL.parse_outbound(encoded) == named
    # A provider is never sent one, and would not read it as one.
    assert not any(d.announces_call for d in DIALECTS.values() if d.name != "callkernel")
    assert isinstance(TWILIO.parse_outbound(encoded), ProtocolError)


def test_twilio_names_the_stream_in_camel_case_and_telnyx_not_at_all() -> None:
    twilio = json.loads(TWILIO.encode(Clear(), "MZ1"))
    telnyx = json.loads(TELNYX.encode(OutboundMark("m"), "ST1"))
    assert twilio == {"event": "clear", "streamSid": "MZ1"}
    assert telnyx == {"event": "mark", "mark": {"name": "m"}}


def test_twilio_documents_messages_parse_as_twilio_sends_them() -> None:
    start = ('{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1",'
             '"streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":'
             '{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},'
             '"customParameters":{"FirstName":"Jane"}},"streamSid":"MZ1"}')
    started = TWILIO.parse(start)
    assert isinstance(started, Started)
    assert (started.stream_id, started.call_id, started.format) == \
        ("MZ1", "CA1", AudioFormat("mulaw", 8000))
    assert dict(started.custom_parameters) == {"FirstName": "Jane"}
    media = ('{"event":"media","sequenceNumber":"3","media":{"track":"inbound",'
             '"chunk":"1","timestamp":"5","payload":"/w=="},"streamSid":"MZ1"}')
    assert TWILIO.parse(media) == Media(1, 5, b"\xff")


def test_telnyx_start_carries_the_call_control_id_and_numbers() -> None:
    start = {"event": "start", "sequence_number": "1", "stream_id": "ST1",
             "start": {"user_id": "U1", "call_control_id": "v3:abc", "call_session_id": "S1",
                       "from": "+15550001", "to": "+15550002", "client_state": "aGk=",
                       "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                        "channels": 1}}}
    started = TELNYX.parse(json.dumps(start))
    assert isinstance(started, Started)
    assert (started.call_id, started.from_, started.to, started.session_id) == \
        ("v3:abc", "+15550001", "+15550002", "S1")
    # A media message without a chunk is ordered by its sequence number.
    media = {"event": "media", "sequence_number": "9", "stream_id": "ST1",
             "media": {"track": "inbound", "payload": "AAA="}}
    assert TELNYX.parse(json.dumps(media)) == Media(9, 0, b"\x00\x00")


def test_telnyx_l16_is_big_endian_as_rtp_carries_it() -> None:
    start = {"event": "start", "sequence_number": "1", "stream_id": "ST1",
             "start": {"call_control_id": "v3:abc",
                       "media_format": {"encoding": "L16", "sample_rate": 16000,
                                        "channels": 1}}}
    started = TELNYX.parse(json.dumps(start))
    assert isinstance(started, Started)
    assert started.format == AudioFormat("pcm16be", 16000)
    assert json.loads(TELNYX.encode_inbound(started, "ST1", 1))["start"]["media_format"][
        "encoding"] == "L16"


def test_signalwire_messages_are_read_wrapped_or_bare_and_carry_l16() -> None:
    bare = SIGNALWIRE.encode_inbound(
        Started("MZ1", "CA1", AudioFormat("pcm16", 16000)), "MZ1", 1)
    wrapped = json.dumps({"timestamp": 1, "direction": "inbound", "eventType": "start",
                          "streamSid": "MZ1", "rawEvent": json.loads(bare)})
    assert SIGNALWIRE.parse(wrapped) == SIGNALWIRE.parse(bare)
    assert json.loads(bare)["start"]["mediaFormat"]["encoding"] == "audio/x-L16"


def test_the_dialect_is_told_from_the_start_message() -> None:
    started = Started("S", "C", AudioFormat("mulaw", 8000))
    assert sniff(TELNYX.encode_inbound(started, "S", 1)) is TELNYX
    assert sniff(TWILIO.encode_inbound(started, "S", 1)) is TWILIO
    wide = Started("S", "C", AudioFormat("pcm16", 16000))
    assert sniff(SIGNALWIRE.encode_inbound(wide, "S", 1)) is SIGNALWIRE
    assert sniff('{"rawEvent": {"event": "connected"}}') is SIGNALWIRE
    assert sniff("not json") is TWILIO


def _start(encoding: str = "audio/x-mulaw", rate: object = 8000, channels: int = 1,
           parameters: object = None) -> str:
    start: dict[str, object] = {"streamSid": "MZ1", "callSid": "CA1", "mediaFormat": {
        "encoding": encoding, "sampleRate": rate, "channels": channels}}
    if parameters is not None:
        start["customParameters"] = parameters
    return json.dumps({"event": "start", "streamSid": "MZ1", "start": start})


def _media(payload: object = "/w==", chunk: object = "1") -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1",
                       "media": {"chunk": chunk, "timestamp": "0", "payload": payload}})


MALFORMED = {
    "not json": ("{event: media", "not JSON"),
    "not an object": ('["media"]', "not an object"),
    "no event": ('{"streamSid": "MZ1"}', "event is missing"),
    "unknown event": ('{"event": "dance"}', "unknown event 'dance'"),
    "too long": ('{"event": "media", "x": "' + "a" * MAX_MESSAGE_CHARS + '"}', "over the"),
    "no media object": ('{"event": "media", "media": 3}', "media is missing"),
    "payload not base64": (_media("not base64!"), "not base64"),
    "payload too big": (_media("A" * (MAX_PAYLOAD_BYTES * 2)), "at most"),
    "chunk not a number": (_media(chunk="-3"), "chunk is missing or not a whole number"),
    "chunk a boolean": (_media(chunk=True), "not a whole number"),
    "no digit": ('{"event": "dtmf", "dtmf": {}}', "digit is missing"),
    "not a digit": ('{"event": "dtmf", "dtmf": {"digit": "x"}}', "not a DTMF digit"),
    "mark without name": ('{"event": "mark", "mark": {"name": 5}}', "name is missing"),
    "start without format": ('{"event": "start", "streamSid": "M", "start": {}}',
                             "mediaFormat is missing"),
    "start without stream": ('{"event": "start", "start": {"mediaFormat": {}}}',
                             "no streamSid"),
    "L16 on twilio": (_start("audio/x-L16", 16000), "does not carry 'audio/x-L16'"),
    "wrong rate": (_start(rate=16000), "at 16000 Hz"),
    "rate not a number": (_start(rate="fast"), "sampleRate is missing"),
    "stereo": (_start(channels=2), "2 channels"),
    "parameters not an object": (_start(parameters=["a"]), "not an object"),
    "too many parameters": (_start(parameters={str(i): "v" for i in range(40)}),
                            "40 custom parameters"),
    "parameter not text": (_start(parameters={"a": {"b": 1}}), "is not text"),
}


@pytest.mark.parametrize(("text", "what"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_twilio_messages_are_classified_not_raised(text: str, what: str) -> None:
    problem = TWILIO.parse(text)
    assert isinstance(problem, ProtocolError)
    assert what in problem.what


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=list(DIALECTS))
def test_no_dialect_raises_on_garbage(dialect: Dialect) -> None:
    for text in ("", "null", "{}", '{"event": null}', '{"event": "media"}', b"\xff\xfe",
                 '{"event": "start", "start": []}', '{"rawEvent": 1, "event": "stop"}'):
        assert isinstance(dialect.parse(text), ProtocolError | Stopped)


def test_the_softphone_dialect_is_l16_at_16k_only() -> None:
    assert CALLKERNEL.default_format == AudioFormat("pcm16", 16000)
    problem = CALLKERNEL.parse(_start())
    assert isinstance(problem, ProtocolError) and "does not carry" in problem.what


def test_telnyx_errors_and_twilio_errors_differ() -> None:
    error = '{"event": "error", "payload": {"code": 100002, "title": "Unknown error"}}'
    assert TELNYX.parse(error) == ProviderError("100002", "Unknown error")
    assert isinstance(TWILIO.parse(error), ProtocolError)
