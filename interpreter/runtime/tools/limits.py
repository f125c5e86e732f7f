"""Bounds on what reaches a call from outside while it runs: webhook and
include replies, data_map responses, the model's tool-call arguments, a
request verb's body. Each is parsed by `outside_json`, which refuses (a
ValueError saying why) before the parser recurses or the text is decoded
whole; docs/limits.md lists them."""

from __future__ import annotations

from interpreter import limits, safejson
from interpreter.jsontypes import JSONValue


def outside_json(data: bytes | str) -> JSONValue:
    return safejson.loads(data, max_depth=limits.VALUE_MAX_DEPTH,
                          max_bytes=limits.RUNTIME_JSON_MAX_BYTES)
