"""docs/limits.md and interpreter/limits.py agree: every limit has a row that
names its constant and states its value."""

from __future__ import annotations

import re
from pathlib import Path

from interpreter import limits

DOC = Path(__file__).resolve().parents[1] / "docs" / "limits.md"


def _rows() -> dict[str, str]:
    """Constant name -> the row's limit cell."""
    rows: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3:
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[2]):
                rows[name] = cells[1]
    return rows


def _forms(value: int) -> set[str]:
    forms = {str(value), f"{value:,}"}
    if value % (1024 * 1024) == 0:
        forms.add(f"{value // (1024 * 1024)} MiB")
    if value % 1024 == 0:
        forms.add(f"{value // 1024} KiB")
    return forms


def test_every_limit_is_in_the_table_with_its_value() -> None:
    rows = _rows()
    constants = {name: value for name, value in vars(limits).items()
                 if name.isupper() and isinstance(value, int)}
    assert constants, "no limits found"
    for name, value in constants.items():
        assert name in rows, f"{name} has no row in docs/limits.md"
        assert any(form in rows[name] for form in _forms(value)), \
            f"{name} = {value:,} but docs/limits.md says {rows[name]!r}"


def test_every_constant_the_table_names_exists() -> None:
    for name in _rows():
        assert hasattr(limits, name), f"docs/limits.md names {name}, not in interpreter/limits.py"
