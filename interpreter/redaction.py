"""Redaction: secrets removed from anything a trace keeps or a command prints.

One module, three kinds of rule (docs/trace.md, "Redaction", is the list):

- **keys**: a value whose key names a secret is replaced whole. A key is
  split into words (snake_case, kebab-case, camelCase, dotted) and is secret
  when its last word is in `SECRET_WORDS`, or is `key` after a word in
  `KEY_QUALIFIERS` (`api_key`, `secretKey`, `x-private-key`), or it is one
  lower-case word ending in a compound of them (`accesstoken`, `apikey`).
  Counts stay: `tokens`, `input_tokens`, `token_time_s` end in another word.
  A flow adds its own names (`callkernel_secret_fields`), compared
  ignoring case and separators;
- **text**: URL userinfo (`https://user:pw@host`, `https://TOKEN@host`), a
  `name=value` or `name: value` pair (a query parameter, a form body, a
  header or JSON inside text) whose name is a secret key (or, with `=`, is
  `key` or `sig`), and credential shapes wherever they appear: an
  `Authorization` scheme (`Bearer …`, `Token …`, `Basic …` that decodes to
  `user:password`), `sk-…` keys, JWTs, GitHub, Slack, Stripe, AWS and Google
  keys, private key blocks;
- **JSON in a string** (a model's tool-call arguments): parsed, redacted
  as a value, and written back as JSON when anything changed.

`redact_value` and `redact_text` are what printers call; a `Redactor` adds a
flow's secret field names (`Redactor.with_keys`). Results are cached: the
trace calls this for every field of every record, on the call's hot path.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"

# The last word of a secret key (after splitting into words).
SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "passcode",
    "secret", "secrets", "token", "auth", "authorization", "bearer",
    "signature", "credential", "credentials", "cookie", "apikey",
})
# `<qualifier> key` is a secret key: api_key, secretKey, X-Private-Key.
KEY_QUALIFIERS = frozenset({
    "api", "secret", "private", "access", "signing", "encryption", "client", "master",
    "auth", "ssh", "session",
})
# A one-word, lower-case key ending in one of these is secret (accesstoken,
# dbpassword, clientsecret, privatekey); "pass" and "auth" are left out
# ("compass", "oauth" are names, not secrets, as one word).
_COMPOUND_ENDINGS = ("password", "passwd", "token", "secret", "apikey", "secretkey",
                     "privatekey", "accesskey")
# Query and form parameters that are secrets by themselves (`?key=`, `&sig=`).
QUERY_NAMES = frozenset({"key", "sig"})

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def key_words(key: str) -> tuple[str, ...]:
    """A key's words, lower case: `X-Api-Key` and `apiKey` give ('api', 'key');
    a key without ASCII words is one word (`Kennwort` is, `пароль` too)."""
    words = tuple(word.lower() for word in _WORD.findall(key))
    return words if words or not key.strip() else (key.strip().lower(),)


def normalize_key(key: str) -> str:
    """A key as declared names are compared: its words joined (`cardNumber`,
    `card_number` and `card-number` are one name)."""
    return "".join(key_words(key))


def is_secret_key(key: str) -> bool:
    """Whether a key names a secret by the built-in rules."""
    words = key_words(key)
    if not words:
        return False
    last = words[-1]
    if last in SECRET_WORDS:
        return True
    if last == "key":
        return len(words) > 1 and words[-2] in KEY_QUALIFIERS
    return len(words) == 1 and last.endswith(_COMPOUND_ENDINGS)


# ------------------------------------------------------------------ text rules

_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]{0,31}://)[^/?#@\s]+@", re.IGNORECASE)
# A pair's name, an optional closing quote (JSON inside text), and `=` or `:`
# (not `://`); then, matched apart and only after a secret name, its value up
# to the next separator: a whole quoted string, or an Authorization header's
# scheme and credential together. Every quantifier that can fail after a long
# scan starts at most once per run of characters, so hostile text costs time
# linear in its length.
_PAIR = re.compile(
    r"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]{0,63})(?P<quote>[\"']?)"
    r"[ \t]*(?P<sep>=|:(?!//))[ \t]*")
_VALUE = re.compile(
    r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"
    r"|(?:(?i:bearer|token|basic|digest)[ \t]+)?[^\s&#;,\"'<>{}\[\]()]+")
# Authorization schemes: `Bearer x`/`Token x` (a credential-looking x) and
# `Basic x` (x decodes to user:password).
_SCHEMES = re.compile(
    r"(?P<scheme>\b(?i:bearer|token)[ \t]+)(?P<token>[A-Za-z0-9._~+/=-]{8,})"
    r"|(?P<basic>\b(?i:basic)[ \t]+)(?P<b64>[A-Za-z0-9+/]{4,}={0,2})")
# Credentials recognizable by their shape.
_SHAPES = re.compile(
    r"\bsk-[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic (sk-ant-…), sk-proj-…
    r"|(?<![\w-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # a JWT
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe secret and restricted keys
    r"|\bA(?:KIA|SIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|-----BEGIN[A-Z ]{0,40} PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]{0,40} PRIVATE KEY-----|$)")
# Substrings every name that `_pairs` redacts contains (once lower-cased and
# without separators): a text without any is not scanned for pairs.
_NAME_NEEDLES = ("pass", "pwd", "secret", "token", "auth", "bearer", "sig", "credential",
                 "cookie", "key")


def _looks_like_credential(token: str) -> bool:
    """After `Bearer`/`Token`: a credential, not an English word ("Bearer bonds")."""
    return len(token) >= 20 or not token.isalpha()


def _scheme(match: re.Match[str]) -> str:
    if match["scheme"] is not None:
        if _looks_like_credential(match["token"]):
            return f"{match['scheme']}{REDACTED}"
        return match[0]
    try:
        decoded = base64.b64decode(match["b64"], validate=True)
    except (binascii.Error, ValueError):
        return match[0]
    return f"{match['basic']}{REDACTED}" if b":" in decoded else match[0]


# Strings longer than this are redacted but not cached.
_CACHED_LENGTH = 512
# Strings parsed as JSON when they look like it; a longer one is only text.
_JSON_LENGTH = 1 << 20
# Deeper than this, a value is replaced: no recursion without a bound.
MAX_DEPTH = 64
_CACHE_SIZE = 2048


class Redactor:
    """The rules, plus a flow's own secret field names (`extra`).

    Instances are shared (`with_keys`) and cache what they decide: a key's
    verdict and a string's redacted form (strings up to 512 characters). The
    caches are cleared when full (2,048 entries) and at most 16 redactors are
    kept, so a long-running server holds at most a few MB here.
    """

    __slots__ = ("_keys", "_needles", "_texts", "extra")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = frozenset(filter(None, map(normalize_key, extra)))
        self._needles = _NAME_NEEDLES + tuple(sorted(self.extra))
        self._keys: dict[str, bool] = {}
        self._texts: dict[str, str] = {}

    @staticmethod
    def with_keys(extra: Iterable[str]) -> Redactor:
        """The shared redactor for these extra names (one per distinct set)."""
        names = frozenset(filter(None, map(normalize_key, extra)))
        redactor = _REDACTORS.get(names)
        if redactor is None:
            if len(_REDACTORS) >= 16:
                _REDACTORS.clear()
                _REDACTORS[frozenset()] = DEFAULT
            redactor = _REDACTORS[names] = Redactor(names)
        return redactor

    def secret_key(self, key: str) -> bool:
        """Whether the value under `key` is a secret."""
        known = self._keys.get(key)
        if known is None:
            known = is_secret_key(key) or (bool(self.extra) and normalize_key(key) in self.extra)
            if len(self._keys) >= _CACHE_SIZE:
                self._keys.clear()
            self._keys[key] = known
        return known

    def value(self, value: Any, key: str = "", depth: int = 0) -> Any:
        """A JSON-shaped copy of `value` (under `key`, if it has one) with its
        secrets replaced by `REDACTED`; `depth`: how deep `value` already is."""
        if key:
            known = self._keys.get(key)
            if known is None:
                known = self.secret_key(key)
            if known and value is not None and value != "" and value != {} and value != []:
                return REDACTED
        kind = type(value)
        if kind is str:
            cached = self._texts.get(value)
            return cached if cached is not None else self._string(value, depth)
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if depth >= MAX_DEPTH:
            return REDACTED
        if kind is dict or isinstance(value, Mapping):
            return {str(k): self.value(v, str(k), depth + 1) for k, v in value.items()}
        if kind is list or kind is tuple or isinstance(value, list | tuple | set | frozenset):
            return [self.value(item, "", depth + 1) for item in value]
        if isinstance(value, enum.Enum):  # before str: str() of a str enum is its name
            return self.value(value.value, "", depth + 1)
        if isinstance(value, str):
            return self._string(str.__str__(value), depth)
        if isinstance(value, int | float):
            return value
        if isinstance(value, bytes | bytearray):
            return f"<{len(value)} bytes>"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {field.name: self.value(getattr(value, field.name), field.name, depth + 1)
                    for field in dataclasses.fields(value)}
        return self.text(str(value))

    def _string(self, value: str, depth: int) -> str:
        """An uncached string: JSON redacted as a value, anything else as text;
        the result is cached (value() and text() share the cache)."""
        result = None
        if value[:1] in ("{", "[") and len(value) <= _JSON_LENGTH:
            result = self._json(value, depth)
        if result is None:
            result = self._text(value)
        if len(value) <= _CACHED_LENGTH:
            texts = self._texts
            if len(texts) >= _CACHE_SIZE:
                texts.clear()
            texts[value] = result
        return result

    def _json(self, value: str, depth: int) -> str | None:
        """A JSON string with its secrets redacted, or None when it is not JSON."""
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return None
        if not isinstance(parsed, dict | list):
            return None
        redacted = self.value(parsed, "", depth + 1)
        return value if redacted == parsed else json.dumps(redacted, ensure_ascii=False)

    def text(self, text: str) -> str:
        """`text` with URL userinfo, secret pairs and credential shapes redacted
        (a JSON text as a value: its keys count, and it stays JSON text)."""
        cached = self._texts.get(text)
        return cached if cached is not None else self._string(text, 0)

    def _text(self, text: str) -> str:
        # Each rule runs only where the text holds what it looks for: most text
        # (what the agent says, what the caller said) holds none of it, and
        # costs a few substring tests. No secret fits in fewer than 5 characters.
        if len(text) < 5:
            return text
        if "@" in text and "://" in text:
            text = _USERINFO.sub(r"\g<scheme>" + REDACTED + "@", text)
        if "=" in text or ":" in text:
            squashed = text.lower().replace("_", "").replace("-", "").replace(".", "")
            for needle in self._needles:
                if needle in squashed:
                    text = self._pairs(text)
                    break
        if len(text) >= 10:
            lower = text.lower()
            if "bearer" in lower or "token" in lower or "basic" in lower:
                text = _SCHEMES.sub(_scheme, text)
            # What every _SHAPES pattern starts with.
            if ("eyJ" in text or "AKIA" in text or "ASIA" in text or "AIza" in text
                    or ("-" in text and ("sk-" in text or "xox" in text
                                         or "PRIVATE KEY" in text))
                    or ("_" in text and ("k_" in text or "gh" in text or "hub_pat_" in text))):
                text = _SHAPES.sub(REDACTED, text)
        return text

    def _pairs(self, text: str) -> str:
        """`text` with the value of every secret `name=value`/`name: value` replaced."""
        pieces: list[str] = []
        done = 0
        for match in _PAIR.finditer(text):
            if match.start() < done:
                continue  # inside a value already replaced
            name = match["name"]
            if not (self.secret_key(name) or (match["sep"] == "="
                                              and name.lower() in QUERY_NAMES)):
                continue
            value = _VALUE.match(text, match.end())
            if value is None or value[0] in ('""', "''"):  # an empty value hides nothing
                continue
            quote = value[0][0]
            pieces += (text[done:value.start()],
                       f"{quote}{REDACTED}{quote}" if quote in "\"'" else REDACTED)
            done = value.end()
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)


DEFAULT = Redactor()
_REDACTORS: dict[frozenset[str], Redactor] = {frozenset(): DEFAULT}


def redact_value(value: Any, key: str = "") -> Any:
    """A JSON-shaped copy of `value` (under `key`, if it has one) with its
    secrets replaced by `REDACTED`: what a trace keeps and `run --json` prints."""
    return DEFAULT.value(value, key)


def redact_text(text: str) -> str:
    """`text` with URL credentials, secret parameters and credential shapes
    replaced by `REDACTED`: for error messages and printed lines."""
    return DEFAULT.text(text)
