"""Signed outbound requests: every request a call makes carries an HMAC
signature the application can check, so it knows the request came from this
server and was not altered or replayed.

The scheme is Standard Webhooks 1.0 (https://www.standardwebhooks.com/), so
an application may verify with that project's libraries or with the few
lines of stdlib Python in docs/operations.md ("Signed requests"):

    webhook-id: msg_<32 hex digits>          (one per request; see below)
    webhook-timestamp: <Unix seconds, an integer>
    webhook-signature: v1,<base64 HMAC-SHA256>[ v1,<...>]

The HMAC is keyed with the secret's bytes and taken over the UTF-8 bytes of
`<webhook-id>.<webhook-timestamp>.` followed by the body exactly as sent
(no body: nothing after the second dot). The method and the URL are not
signed (the standard does not sign them). A secret is written
`whsec_<base64 of 24 to 64 random bytes>`; several keys (a rotation) give
one signature each, the current first, and a receiver accepts a request
when any of them matches.

A request that already carries a `webhook-id` keeps it (a sender that
retries a delivery can give each attempt the same id, so a receiver can drop
duplicates); otherwise each request gets a fresh one. `webhook-timestamp` and `webhook-signature`
are always the signer's own: a document cannot set them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNED_HEADERS = frozenset({ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER})
VERSION = "v1"  # HMAC-SHA256 in the standard's naming
SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64  # the standard's bounds (192 to 512 bits)
DEFAULT_TOLERANCE = 300.0  # seconds either way, as the standard recommends
# The id is part of the signed string, so it must not hold a dot (the
# standard's warning) nor anything a header cannot carry.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")


class SignatureInvalid(ValueError):
    """A request whose signature does not check out; the message says why."""


def parse_secret(text: str) -> bytes:
    """The key bytes of `whsec_<base64>` (the prefix may be left out)."""
    encoded = text.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a signing secret is {SECRET_PREFIX}<base64>") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"a signing key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes "
                         f"(this one is {len(key)})")
    return key


def generate_secret(size: int = 32) -> str:
    """A new random secret, written the standard's way."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def signed_content(message_id: str, timestamp: str, body: bytes | None) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + (body or b"")


def signature(key: bytes, message_id: str, timestamp: str, body: bytes | None) -> str:
    """One `v1,<base64>` entry of the signature header."""
    digest = hmac.new(key, signed_content(message_id, timestamp, body), hashlib.sha256)
    return f"{VERSION},{base64.b64encode(digest.digest()).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class RequestSigner:
    """Signs outbound requests with the server's key(s): the current key
    first, then any older one still accepted during a rotation. The keys
    never appear in a repr (a signer may end up in a log line)."""

    keys: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a signer needs at least one key")
        for key in self.keys:
            if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
                raise ValueError(f"a signing key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")

    @classmethod
    def from_secrets(cls, secrets_: Iterable[str]) -> RequestSigner:
        """From `whsec_...` secrets, the current one first."""
        return cls(tuple(parse_secret(secret) for secret in secrets_))

    def message_id(self, headers: Mapping[str, str]) -> str:
        """The request's own `webhook-id` if it has a usable one, else a new one."""
        given = next((value for name, value in headers.items()
                      if name.lower() == ID_HEADER), None)
        if given is None:
            return f"msg_{uuid.uuid4().hex}"
        if not _MESSAGE_ID.fullmatch(given):
            raise ValueError(f"a {ID_HEADER} header is 1 to 128 letters, digits, _ or -")
        return given

    def signed(self, headers: Mapping[str, str], body: bytes | None, *,
               message_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        """`headers` with the three signature headers set (any the request
        had under those names, in any case, are replaced). `body` must be
        the exact bytes sent."""
        message_id = message_id or self.message_id(headers)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = {name: value for name, value in headers.items()
                  if name.lower() not in SIGNED_HEADERS}
        signed[ID_HEADER] = message_id
        signed[TIMESTAMP_HEADER] = stamp
        signed[SIGNATURE_HEADER] = " ".join(signature(key, message_id, stamp, body)
                                            for key in self.keys)
        return signed


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes, *,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> str:
    """Check a received request: its `webhook-signature` holds a `v1`
    signature by `secret` (a `whsec_...` string or the key bytes) over its id,
    timestamp and `body` (the raw bytes received), and its timestamp is
    within `tolerance` seconds of `now` (a stale or replayed request is
    refused). The request's `webhook-id` when it checks out (to drop
    duplicates by); SignatureInvalid otherwise."""
    key = parse_secret(secret) if isinstance(secret, str) else secret
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = sorted(SIGNED_HEADERS - set(lowered))
    if missing:
        raise SignatureInvalid(f"no {missing[0]} header")
    message_id, stamp = lowered[ID_HEADER], lowered[TIMESTAMP_HEADER]
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is not an integer") from None
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is {abs(age):.0f} s "
                               f"{'old' if age > 0 else 'ahead'} (tolerance {tolerance:g} s)")
    # The timestamp is signed as the header has it, as the standard's libraries do.
    expected = signature(key, message_id, stamp, body).encode()
    for candidate in lowered[SIGNATURE_HEADER].split():
        if hmac.compare_digest(candidate.encode(), expected):
            return message_id
    raise SignatureInvalid("no signature matches")
