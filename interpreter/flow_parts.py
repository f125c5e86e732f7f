"""What a compiled flow holds, found however deeply it is nested (sections,
branches, ai verbs, their functions)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TypeVar

from interpreter import ir

Found = TypeVar("Found")


def found_in(flow: ir.CompiledFlow, kind: type[Found]) -> list[Found]:
    """Every `kind` in the flow's sections, however nested."""
    seen: set[int] = set()
    found: list[Found] = []

    def walk(value: object) -> None:
        if isinstance(value, kind):
            found.append(value)
        if id(value) in seen or isinstance(value, str | bytes | int | float):
            return
        seen.add(id(value))
        if isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                walk(getattr(value, field.name))

    walk(flow.sections)
    return found


def has_ai(flow: ir.CompiledFlow) -> bool:
    """Whether any section of the flow holds an ai verb, however nested."""
    return bool(found_in(flow, ir.Ai))
