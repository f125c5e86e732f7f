"""Signed outbound requests (Standard Webhooks): signing, verifying, and the
verification snippet docs/operations.md gives applications, run as written."""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from interpreter.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RequestSigner,
    SignatureInvalid,
    generate_secret,
    parse_secret,
    verify,
)

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"  # 24 bytes of "A"
BODY = b'{"function":"check_order","argument":{"parsed":[{"order_id":"A123"}]}}'
NOW = 1_700_000_000


def _signed(body: bytes = BODY, timestamp: int = NOW, *secrets: str) -> dict[str, str]:
    signer = RequestSigner.from_secrets(secrets or (SECRET,))
    return signer.signed({"Content-Type": "application/json"}, body, timestamp=timestamp)


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The vector the Standard Webhooks reference libraries test their signing
    # with: the same bytes sign the same way here, so their verifiers accept ours.
    signer = RequestSigner.from_secrets([SECRET])
    headers = signer.signed({}, b'{"test": 2432232314}',
                            message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330)
    assert headers == {ID_HEADER: "msg_p5jXN8AQM9LWM0D4loKWxJek",
                       TIMESTAMP_HEADER: "1614265330",
                       SIGNATURE_HEADER: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}


def test_a_signed_request_verifies_and_gives_its_id() -> None:
    headers = _signed()
    assert headers["Content-Type"] == "application/json"  # the request's own stay
    assert re.fullmatch(r"msg_[0-9a-f]{32}", headers[ID_HEADER])
    assert verify(SECRET, headers, BODY, now=NOW + 10) == headers[ID_HEADER]
    assert verify(parse_secret(SECRET), headers, BODY, now=NOW) == headers[ID_HEADER]


def test_header_names_are_matched_in_any_case() -> None:
    headers = {name.title(): value for name, value in _signed().items()}
    assert verify(SECRET, headers, BODY, now=NOW)


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify(SECRET, _signed(), BODY.replace(b"A123", b"A124"), now=NOW)


def test_a_tampered_id_or_timestamp_is_refused() -> None:
    headers = _signed()
    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify(SECRET, {**headers, ID_HEADER: "msg_other"}, BODY, now=NOW)
    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify(SECRET, {**headers, TIMESTAMP_HEADER: str(NOW + 1)}, BODY, now=NOW)


def test_another_key_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify(generate_secret(), _signed(), BODY, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, 3600])
def test_a_stale_or_future_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(SignatureInvalid, match="tolerance 300 s"):
        verify(SECRET, _signed(timestamp=NOW), BODY, now=NOW + offset)


def test_the_tolerance_is_the_receivers_choice() -> None:
    headers = _signed(timestamp=NOW)
    assert verify(SECRET, headers, BODY, now=NOW + 3600, tolerance=7200)
    with pytest.raises(SignatureInvalid, match="old"):
        verify(SECRET, headers, BODY, now=NOW + 61, tolerance=60)


@pytest.mark.parametrize("missing", [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_a_missing_header_is_named(missing: str) -> None:
    headers = {k: v for k, v in _signed().items() if k != missing}
    with pytest.raises(SignatureInvalid, match=f"no {missing} header"):
        verify(SECRET, headers, BODY, now=NOW)


def test_a_timestamp_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="not an integer"):
        verify(SECRET, {**_signed(), TIMESTAMP_HEADER: "soon"}, BODY, now=NOW)


def test_during_a_rotation_each_key_signs_and_either_verifies() -> None:
    headers = _signed(BODY, NOW, SECRET, OLD_SECRET)
    entries = headers[SIGNATURE_HEADER].split(" ")
    assert len(entries) == 2 and all(entry.startswith("v1,") for entry in entries)
    assert verify(SECRET, headers, BODY, now=NOW)
    assert verify(OLD_SECRET, headers, BODY, now=NOW)


def test_verify_compares_in_constant_time() -> None:
    headers = _signed(BODY, NOW, OLD_SECRET, SECRET)
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
        verify(SECRET, headers, BODY, now=NOW)
        with pytest.raises(SignatureInvalid):
            verify(SECRET, headers, b"other", now=NOW)
    assert compare.call_count == 4  # each entry, both times: never ==


def test_a_request_keeps_its_own_id_and_cannot_set_the_signature() -> None:
    signer = RequestSigner.from_secrets([SECRET])
    forged = {"Webhook-Id": "summary-42", "WEBHOOK-SIGNATURE": "v1,forged",
              "webhook-timestamp": "1"}
    headers = signer.signed(forged, BODY, timestamp=NOW)
    assert headers[ID_HEADER] == "summary-42"
    assert set(headers) == {ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER}
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    assert verify(SECRET, headers, BODY, now=NOW) == "summary-42"


@pytest.mark.parametrize("bad_id", ["a.b", "", "x" * 129, "id with spaces"])
def test_an_id_that_could_confuse_the_signed_string_is_refused(bad_id: str) -> None:
    with pytest.raises(ValueError, match="webhook-id"):
        RequestSigner.from_secrets([SECRET]).message_id({"webhook-id": bad_id})


def test_no_body_signs_the_id_and_timestamp_alone() -> None:
    headers = RequestSigner.from_secrets([SECRET]).signed({}, None, timestamp=NOW)
    assert verify(SECRET, headers, b"", now=NOW)


@pytest.mark.parametrize(("text", "message"), [
    ("whsec_not base64!", "whsec_<base64>"),
    ("whsec_" + "QUJD", "24 to 64 bytes"),  # 3 bytes
])
def test_bad_secrets_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_secret(text)


def test_generated_secrets_parse_and_differ() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(parse_secret(first)) == 32
    assert parse_secret(first.removeprefix("whsec_")) == parse_secret(first)


def test_a_signer_never_shows_its_keys() -> None:
    signer = RequestSigner.from_secrets([SECRET])
    assert "MfKQ" not in repr(signer) and repr(parse_secret(SECRET)) not in repr(signer)
    with pytest.raises(ValueError, match="at least one key"):
        RequestSigner(())


# -- the snippet in docs/operations.md, run as written ----------------------

def _doc_code() -> str:
    """The one Python block of the "Signed requests" section."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Signed requests", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return code


def _doc_snippet() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(_doc_code(), "docs/operations.md", "exec"), namespace)
    return namespace


def test_the_documented_verifier_accepts_our_signature_and_refuses_tampering() -> None:
    snippet = _doc_snippet()
    headers = _signed(BODY, NOW, OLD_SECRET, SECRET)
    request = SimpleNamespace(headers=headers, body=BODY)
    with mock.patch("time.time", return_value=NOW + 5):
        assert snippet["verify_callkernel"](SECRET, request.headers, request.body) is True
        assert snippet["verify_callkernel"](SECRET, headers, BODY + b" ") is False
        assert snippet["verify_callkernel"](generate_secret(), headers, BODY) is False
    with mock.patch("time.time", return_value=NOW + 301):
        assert snippet["verify_callkernel"](SECRET, headers, BODY) is False


def test_the_documented_verifier_uses_only_the_standard_library() -> None:
    code = _doc_code()
    imported = set(re.findall(r"^import (\w+)|^from (\w+)", code, re.MULTILINE))
    modules = {name for pair in imported for name in pair if name}
    assert modules <= {"base64", "hashlib", "hmac", "time"}, modules
    assert "hmac.compare_digest" in code
