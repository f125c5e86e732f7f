"""Redaction: secret keys, URL userinfo, secret parameters, credential shapes,
JSON inside strings and a flow's own secret fields; JSON-shaped results; the
rules in docs/trace.md are the rules in the code."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interpreter import redaction
from interpreter.redaction import (
    KEY_QUALIFIERS,
    MAX_DEPTH,
    REDACTED,
    SECRET_WORDS,
    Redactor,
    is_secret_key,
    key_words,
    redact_text,
    redact_value,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "trace.md"


@pytest.mark.parametrize("key", [
    "password", "Password", "web_hook_auth_password", "pass", "db_passwd", "pwd", "secret",
    "client_secret", "token", "access_token", "accessToken", "refresh-token", "X-Auth-Token",
    "auth", "Authorization", "Proxy-Authorization", "api_key", "apiKey", "APIKey", "X-Api-Key",
    "apikey", "secret_key", "secretKey", "private_key", "aws_access_key", "signature",
    "X-Amz-Signature", "credentials", "Cookie", "Set-Cookie", "accesstoken", "dbpassword",
    "privatekey", "settings.password", "passphrase",
])
def test_keys_that_name_a_secret(key: str) -> None:
    assert is_secret_key(key)
    assert redact_value({key: "s3cr3t"}) == {key: REDACTED}


@pytest.mark.parametrize("key", [
    "tokens", "input_tokens", "output_tokens", "max_tokens", "token_time_s", "key",
    "auth_user", "user", "username", "session", "session_id", "request_id", "keyword",
    "monkey", "compass", "passenger", "signatures_count", "secret_fields", "password_hint_shown",
    "", "url", "text",
])
def test_keys_that_do_not(key: str) -> None:
    assert not is_secret_key(key)
    assert redact_value({key: "value"}) == {key: "value"}


def test_keys_split_into_words_whatever_their_case_style() -> None:
    assert key_words("X-Api-Key") == ("x", "api", "key")
    assert key_words("apiKey") == key_words("api_key") == key_words("API-KEY") == ("api", "key")
    assert key_words("HTTPAuthToken") == ("http", "auth", "token")
    assert key_words("oauth2Token") == ("oauth", "2", "token")
    assert key_words("Kennwort") == ("kennwort",)
    assert key_words("пароль") == ("пароль",)


@pytest.mark.parametrize(("text", "expected"), [
    ("https://user:pw@example.com/x", "https://***@example.com/x"),
    ("https://TOKEN123@example.com/x", "https://***@example.com/x"),
    ("redis://:pw@cache:6379/0", "redis://***@cache:6379/0"),
    ("GET https://h/x?api_key=a&apikey=b&access_token=c&key=d&sig=e&page=2",
     "GET https://h/x?api_key=***&apikey=***&access_token=***&key=***&sig=***&page=2"),
    ("https://h/x?__token=abc#top", "https://h/x?__token=***#top"),
    ("user=bob&password=hunter2", "user=bob&password=***"),
    ("password=a=b&c=1", "password=***&c=1"),
    ("Authorization: Bearer abcdefgh", "Authorization: ***"),
    ("authorization: basic dXNlcjpwYXNz", "authorization: ***"),
    ("X-Api-Key: 1234abcd", "X-Api-Key: ***"),
    ("here is your token: abc", "here is your token: ***"),
    ("db_passwd: 'x y'", "db_passwd: '***'"),
    ('replied 500: {"password": "hunter2", "user": "bob"}',
     'replied 500: {"password": "***", "user": "bob"}'),
    ('{"token": ""}', '{"token": ""}'),
    ("curl -H 'Bearer eyJhbGciOi.eyJzdWIiOiIx.c2ln' x", "curl -H 'Bearer ***' x"),
    ("header Token 9f8e7d6c5b4a", "header Token ***"),
    ("Basic dXNlcjpwYXNz", "Basic ***"),
    ("the key is sk-abcdefghijklmnop1234 ok", "the key is *** ok"),
    ("sk-proj-abcdefghijklmnopqrstuvwx", "***"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc-_123", "***"),
    ("ghp_" + "a1" * 18, "***"),
    ("github_pat_" + "A_1" * 12, "***"),
    ("xoxb-1234567890-abcdef", "***"),
    ("sk_live_" + "a1" * 12, "***"),
    ("rk_test_" + "a1" * 12, "***"),
    ("id AKIAABCDEFGHIJKLMNOP.", "id ***."),
    ("AIza" + "B" * 35, "***"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nok", "***\nok"),
    ("-----BEGIN PRIVATE KEY-----\nMIIE (cut)", "***"),
])
def test_text_rules(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", [
    "a=b c@d", "mail me at bob@example.com", "https://example.com/p?email=a@b.com&page=2",
    "Note: the store opens at 9:30", "Bearer bonds are fine", "Basic information here",
    "keyboard=qwerty", "sort_key=name", "token_time_s=3", "Order A123 ships tomorrow.",
    "sip:+15551234567@sip.example.com", "", "ok",
])
def test_text_without_secrets_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_a_json_string_is_redacted_as_a_value_and_stays_a_string() -> None:
    arguments = '{"user": "bob", "password": "hunter2", "card": {"cvv": "1"}}'
    assert json.loads(redact_value(arguments)) == {"user": "bob", "password": REDACTED,
                                                   "card": {"cvv": "1"}}
    unchanged = '{"order_id":"A123"}'
    assert redact_value(unchanged) == unchanged  # its own spelling kept
    assert redact_value('[{"api_key": "k"}]') == '[{"api_key": "***"}]'
    assert redact_value("{not json, password=x}") == "{not json, password=***}"


def test_values_become_json_shaped() -> None:
    class Color(enum.Enum):
        RED = "red"

    class Opaque:
        def __str__(self) -> str:
            return "opaque https://u:pw@host/"

    @dataclass(frozen=True)
    class Reply:
        response: str
        raw: object

    value = {"proxy": MappingProxyType({"secret": "s", "n": 1}), "tuple": (1, "a"),
             "enum": Color.RED, "reply": Reply("ok", {"auth": "x"}), "bytes": b"\x00\x01",
             7: "int key", "object": Opaque()}
    assert redact_value(value) == {
        "proxy": {"secret": REDACTED, "n": 1}, "tuple": [1, "a"], "enum": "red",
        "reply": {"response": "ok", "raw": {"auth": REDACTED}}, "bytes": "<2 bytes>",
        "7": "int key", "object": "opaque https://***@host/"}
    json.dumps(redact_value(value))


def test_empty_secret_values_are_kept_they_hide_nothing() -> None:
    assert redact_value({"password": "", "token": None, "auth": {}, "secret": []}) == {
        "password": "", "token": None, "auth": {}, "secret": []}
    assert redact_value({"password": 0, "pin_token": 1234}) == {"password": REDACTED,
                                                                "pin_token": REDACTED}


def test_depth_is_bounded() -> None:
    deep: object = "leaf"
    for _ in range(MAX_DEPTH * 3):
        deep = [deep]
    out = redact_value(deep)
    for _ in range(MAX_DEPTH):
        assert isinstance(out, list)
        out = out[0]
    assert out == REDACTED
    deep_json = "[" * 100_000 + "]" * 100_000  # json.loads gives up: it is text
    assert redact_value(deep_json) == deep_json


def test_a_flow_s_secret_fields_are_compared_without_case_or_separators() -> None:
    redactor = Redactor.with_keys(["cardNumber", "PIN"])
    assert Redactor.with_keys(["card_number", "pin"]) is redactor  # one per set
    assert redactor.value({"card_number": "4111", "card-number": "4111", "CARDNUMBER": "4",
                           "pin": 1234, "pinned": True, "nested": [{"Pin": "1"}]}) == {
        "card_number": REDACTED, "card-number": REDACTED, "CARDNUMBER": REDACTED,
        "pin": REDACTED, "pinned": True, "nested": [{"Pin": REDACTED}]}
    assert redactor.text("card_number=4111 pin: 12") == "card_number=*** pin: ***"
    assert redactor.value('{"cardNumber": "4111"}') == '{"cardNumber": "***"}'
    # The default rules do not know these names.
    assert redact_value({"card_number": "4111"}) == {"card_number": "4111"}
    assert Redactor.with_keys(["", "  "]).extra == frozenset()


def test_caches_stay_bounded() -> None:
    redactor = Redactor()
    for i in range(10_000):
        redactor.value({f"key{i}": f"text {i}"})
    assert len(redactor._keys) <= redaction._CACHE_SIZE
    assert len(redactor._texts) <= redaction._CACHE_SIZE
    long = "x" * (redaction._CACHED_LENGTH + 1)
    redactor.value(long)
    assert long not in redactor._texts


@pytest.mark.parametrize("hostile", [
    "eyJa-" * 40_000, "password:" * 20_000, "a:" * 60_000 + "key", "a." * 60_000 + "://x@",
    'token:"' * 20_000, "bearer " * 20_000, "-----BEGIN PRIVATE KEY-----" * 5_000,
    "sk-a-" * 40_000, "key" + " " * 100_000 + "=", ("a" * 64 + ".") * 2_000 + "key=1",
])
def test_hostile_text_is_redacted_in_linear_time(hostile: str) -> None:
    # Quadratic matching would take minutes on these; linear takes milliseconds.
    assert isinstance(redact_text(hostile), str)


@given(st.text(max_size=40), st.sampled_from(["password", "api_key", "accessToken", "auth"]),
       st.text(alphabet=st.characters(codec="ascii", categories=("L", "N")),
               min_size=6, max_size=20))
def test_a_secret_never_survives_under_a_secret_name(prefix: str, name: str,
                                                     secret: str) -> None:
    text = f"{prefix} {name}={secret}&x=1"
    for shown in (redact_text(text), redact_value({name: secret}),
                  redact_value(json.dumps({"nested": {name: secret}}))):
        assert f"={secret}" not in str(shown) and f'"{secret}"' not in str(shown)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=20))
def test_redaction_is_json_and_idempotent(value: object) -> None:
    once = redact_value(value)
    json.dumps(once)
    assert redact_value(once) == once


def _documented(rule: str) -> set[str]:
    """The backticked words in the second cell of the key-rules row starting with `rule`."""
    row = next(line for line in DOC.read_text(encoding="utf-8").splitlines()
               if line.startswith(f"| {rule}"))
    return set(re.findall(r"`([^`]+)`", row.split("|")[2]))


def test_the_documented_key_rules_are_the_code_s() -> None:
    assert _documented("its last word is a secret word") == SECRET_WORDS
    assert _documented("its last word is `key`") == KEY_QUALIFIERS
    assert _documented("it is one lower-case word") == set(redaction._COMPOUND_ENDINGS)
