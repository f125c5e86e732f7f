"""The per-call trace: one ordered log of everything that happened.

Every inbound event, effect started/finished/dropped, state change, verb,
request and error is one record: `{"n": order, "t": seconds since the call
started, "kind": ..., ...}`. Records are kept in memory (tests assert on them)
and, when a path is given, appended to a JSONL file as they happen, so a
crash still leaves the trace behind. Secrets never reach a record: URL
credentials and sensitive keys are redacted on the way in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

# A key whose last word names a secret: "password", "auth_password", "api_key",
# "access_token" — but not "tokens" or "token_time_s", which are counts.
_SECRET_KEYS = re.compile(
    r"(^|[_-])(pass(word)?|secret|token|authorization|api[_-]?key|signature)$",
    re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]*@",
                              re.IGNORECASE)
_TOKEN_QUERY = re.compile(r"(?P<key>[?&](?:__token|token|key|signature)=)[^&#\s]+",
                          re.IGNORECASE)
REDACTED = "***"


_secret_key_cache: dict[str, bool] = {}


def _is_secret_key(key: str) -> bool:
    known = _secret_key_cache.get(key)
    if known is None:
        known = _SECRET_KEYS.search(key) is not None
        if len(_secret_key_cache) < 4096:  # keys come from code, but user data has keys too
            _secret_key_cache[key] = known
    return known


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` with credentials removed from keys, URLs and query strings."""
    kind = type(value)
    if key and _is_secret_key(key) and value not in (None, "", {}, []):
        return REDACTED
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, str):
        # URL credentials need an "@", a token in a query string needs an "=".
        if "@" in value:
            value = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{REDACTED}@", value)
        if "=" in value:
            value = _TOKEN_QUERY.sub(lambda m: f"{m['key']}{REDACTED}", value)
        return value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


class Trace:
    """An append-only, ordered record of one call."""

    def __init__(self, call_id: str, clock: Callable[[], float],
                 path: str | Path | None = None) -> None:
        self.call_id = call_id
        self._clock = clock
        self._start = clock()
        self.records: list[dict[str, Any]] = []
        # Kept open for the call's lifetime and closed by close(); a context
        # manager cannot span the call.
        self._sink: IO[str] | None = (
            Path(path).open("a", encoding="utf-8") if path else None)  # noqa: SIM115

    def record(self, kind: str, /, **fields: Any) -> dict[str, Any]:
        entry = {"n": len(self.records), "t": round(self._clock() - self._start, 6),
                 "kind": kind}
        for key, value in fields.items():
            entry[f"{key}_" if key in _SKIP else key] = redact(value, key)
        self.records.append(entry)
        if self._sink is not None:
            self._sink.write(json.dumps(entry, default=str, sort_keys=False) + "\n")
            self._sink.flush()
        return entry

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] in kinds]

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def read_trace(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


_SKIP = ("n", "t", "kind")


def format_record(record: dict[str, Any]) -> str:
    """One timeline line: `  12.340  kind            key=value ...`."""
    # default=str: in memory a record may hold a value the file has as text
    # (an event's tool reply), and a timeline must never fail on it.
    details = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                       for k, v in record.items() if k not in _SKIP)
    return f"{record.get('t', 0):9.3f}  {record.get('kind', '?'):<20} {details}".rstrip()
