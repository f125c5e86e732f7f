"""Every trace record kind the runtime writes is documented in docs/trace.md,
and the doc lists no kind the code does not write."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "interpreter"
DOC = ROOT / "docs" / "trace.md"

# `record("kind"` and `record(\n    "kind"`: trace.record, call.trace.record,
# self.trace.record, a bound `record`; faults.record writes "error" itself.
KIND = re.compile(r"""\brecord\(\s*(["'])(?P<kind>[A-Za-z_][A-Za-z0-9_]*)\1""")
# A trace record whose kind is not a literal: this test could not see it.
NOT_LITERAL = re.compile(r"""\btrace\.record\(\s*(?!["'\s])""")
TABLE_ROW = re.compile(r"^\|\s*`(?P<kind>[a-z_][a-z0-9_]*)`\s*\|")


def kinds_in_code() -> dict[str, list[str]]:
    """Each kind written, with where (file:line)."""
    found: dict[str, list[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in KIND.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.setdefault(match["kind"], []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def kinds_in_doc() -> set[str]:
    """The kinds in the tables of the "Record kinds" section whose first column is `kind`."""
    section = DOC.read_text(encoding="utf-8").split("\n## Record kinds", 1)[1]
    kinds: set[str] = set()
    in_kind_table = False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_kind_table = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] == "kind":
            in_kind_table = True
        elif in_kind_table and (row := TABLE_ROW.match(line)):
            kinds.add(row["kind"])
    return kinds


def test_the_scan_finds_the_kinds_it_must() -> None:
    code = kinds_in_code()
    # One-line, multi-line, faults.record's own and an effect's records.
    assert {"call_started", "call_ended", "error", "effect_started", "event", "turn"} <= set(code)
    assert len(code) > 60


def test_every_record_kind_the_code_writes_is_documented() -> None:
    missing = {kind: where for kind, where in kinds_in_code().items()
               if kind not in kinds_in_doc()}
    assert not missing, (
        "record kinds written but not listed in docs/trace.md (add a table row "
        f"`| `kind` | fields | meaning |` under Record kinds): {missing}")


def test_the_doc_lists_no_kind_the_code_does_not_write() -> None:
    stale = kinds_in_doc() - set(kinds_in_code())
    assert not stale, f"docs/trace.md lists kinds no code writes: {sorted(stale)}"


def test_every_trace_record_names_its_kind_literally() -> None:
    dynamic = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
               for path in sorted(SOURCE.rglob("*.py"))
               for text in [path.read_text(encoding="utf-8")]
               for match in NOT_LITERAL.finditer(text)]
    assert not dynamic, f"trace.record with a kind this test cannot read: {dynamic}"
