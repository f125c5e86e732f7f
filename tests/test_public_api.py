"""The package's public face: `__all__` is sorted and names exactly what it exports."""

from __future__ import annotations

import types

import interpreter


def test_all_is_sorted_and_complete() -> None:
    exported = {name for name, value in vars(interpreter).items()
                if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert interpreter.__all__ == sorted(interpreter.__all__)
    assert set(interpreter.__all__) == exported


def test_public_names_resolve() -> None:
    for name in interpreter.__all__:
        assert getattr(interpreter, name) is not None
