"""`JSONValue`: the one type for user data (documents, variables, tool replies)."""

from __future__ import annotations

from typing import TypeAlias

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = "dict[str, JSONValue]"


def kind_of(value: object, *, yaml: bool = False) -> str:
    """A JSON value's kind with its article, for messages: "an array", "null".

    Flow authors write YAML and read "a list"/"a map"; a model or a webhook
    author reads JSON's "an array"/"an object"."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int():
            return "an integer"
        case float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list" if yaml else "an array"
        case dict():
            return "a map" if yaml else "an object"
    return type(value).__name__
