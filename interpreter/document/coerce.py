"""Coercions from document values to IR values, shared by the compilers.

Numeric and boolean parameters may be `${...}` strings in SWML; a value that
cannot be read as the type keeps the default here (the raw value stays in the
IR where the runtime can render it).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from urllib.parse import unquote, urlsplit, urlunsplit

from interpreter import ir
from interpreter.ir import freeze as freeze  # re-exported for the compilers
from interpreter.jsontypes import JSONValue

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def split_credentials(url: str) -> ir.Webhook:
    """A URL's `user:pass@` moves out of the URL into Basic-auth credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ir.Webhook(url)
    if parts.username is None and parts.password is None:
        return ir.Webhook(url)
    # Everything after the userinfo is kept as written (lint reports bad ports).
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return ir.Webhook(clean, unquote(parts.username or ""), unquote(parts.password or ""))


def webhook(url: str, user: JSONValue = None, password: JSONValue = None) -> ir.Webhook:
    hook = split_credentials(url)
    if isinstance(user, str) or isinstance(password, str):
        return ir.Webhook(hook.url, str(user or hook.user or ""), str(password or hook.password
                                                                     or ""))
    return hook


def duration_seconds(value: JSONValue) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) and value else None
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def number(value: JSONValue, default: float) -> float:
    # Numeric params may be "${...}" strings (SWMLVar); those keep the default here
    # and stay visible in `raw` for the runtime.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def flag(value: JSONValue, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def strings(value: JSONValue) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def filler_map(value: JSONValue) -> ir.FillerMap:
    if isinstance(value, list):  # a bare list is the default for every language
        return MappingProxyType({"default": strings(value)})
    if isinstance(value, dict):
        return MappingProxyType({code: strings(items) for code, items in value.items()})
    return MappingProxyType({})


_JS_REGEX = re.compile(r"^/(.*)/([a-z]*)$", re.DOTALL)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A data_map/hint pattern: PCRE-style text, or the JavaScript literal form
    `/text/flags` that SDK skills emit (flag `i` ignores case, `s` dot-all,
    `m` multiline). Raises re.error when invalid."""
    literal = _JS_REGEX.match(pattern)
    if literal is None:
        return re.compile(pattern)
    flags = 0
    for letter in literal[2]:
        flags |= {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE}.get(letter, 0)
    return re.compile(literal[1], flags)


def hint(item: JSONValue) -> ir.Hint:
    """A `hints` entry: a plain word, or a pattern with its replacement."""
    if isinstance(item, dict):
        pattern = item.get("pattern")
        compiled = compile_pattern(pattern) if isinstance(pattern, str) else None
        if compiled is not None and flag(item.get("ignore_case"), False):
            compiled = re.compile(compiled.pattern, compiled.flags | re.IGNORECASE)
        return ir.Hint(str(item.get("hint", "")), compiled,
                       _replacement(str(item["replace"])) if "replace" in item else None)
    return ir.Hint(str(item))


def _replacement(template: str) -> str:
    """A JS/PCRE-style replacement (`$1`) as a Python `re.sub` template."""
    return re.sub(r"\$(\d+)", r"\\g<\1>", template.replace("\\", "\\\\"))
