"""The package's public face: `__all__` is sorted and names exactly what it exports."""

from __future__ import annotations

import interpreter


def test_all_is_sorted_and_complete() -> None:
    exported = {name for name in vars(interpreter) if not name.startswith("_")}
    exported -= {"diagnostics", "document", "errors", "expressions", "ir", "jsontypes"}
    assert interpreter.__all__ == sorted(interpreter.__all__)
    assert set(interpreter.__all__) == exported


def test_public_names_resolve() -> None:
    for name in interpreter.__all__:
        assert getattr(interpreter, name) is not None
