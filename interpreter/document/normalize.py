"""The normalized JSON form of a compiled flow, and its content hash.

The normalized form is the IR as JSON: defaults filled in, POM rendered,
references written as the names they resolved to, expressions as their
source text. Source positions are left out, so reformatting a document or
editing its comments does not change its hash: the hash identifies what the
flow does, which is what a published version should be keyed on.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from interpreter.diagnostics import Span

if TYPE_CHECKING:
    from interpreter.ir import CompiledFlow

# Fields whose value owns sections/contexts/steps; anywhere else those objects
# are references and are written by name.
_OWNING_FIELDS = frozenset({"sections", "contexts", "steps"})
_NAMED = ("Section", "Context", "Step")


def to_json(value: Any, owning: bool = True) -> Any:
    if isinstance(value, Span):
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, re.Pattern):
        return value.pattern
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value).__name__
        if kind in _NAMED and not owning:
            return getattr(value, "name")  # noqa: B009 - the dataclass type is not known here
        if kind in ("Js", "SwmlText", "SwaigText"):
            return {"$expr": getattr(value, "source")}  # noqa: B009
        out: dict[str, Any] = {"$type": kind}
        for item in dataclasses.fields(value):
            if item.name in ("span", "content_hash", "source_file"):
                continue
            field_value = getattr(value, item.name)
            out[item.name.rstrip("_")] = to_json(field_value, item.name in _OWNING_FIELDS)
        return out
    if isinstance(value, Mapping):
        return {str(getattr(k, "value", k)): to_json(v, False) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(item, owning) for item in value]
    return value


def flow_to_json(flow: CompiledFlow) -> dict[str, Any]:
    body = to_json(flow)
    assert isinstance(body, dict)
    return body


def canonical_json(flow: CompiledFlow) -> str:
    return json.dumps(flow_to_json(flow), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def content_hash(flow: CompiledFlow) -> str:
    digest = hashlib.sha256(canonical_json(flow).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"
