"""Golden lint tests: every file in tests/data/lint states the diagnostics it must produce.

Each case declares its expectations in comment lines `# expect: CODE LINE:COL`
(a `.json` case, which cannot hold comments, in a sibling `<name>.expect`
file); `# expect: CODE LINE:COL ~ TEXT` also requires TEXT in that
diagnostic's message or hint, and `# expect: nothing` declares a clean case.
The run must produce exactly those diagnostics: a missing one or an extra one
fails. Options for the loader go on a `# options: max_bytes=N` line. A caller
script, scripted model or flow test (`*.caller.yaml`, `*.model.yaml`,
`*.test.yaml`) is linted as what it is, the way `callkernel lint` does.
Every code in the catalogue needs at least one case, and a docs entry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interpreter.commands.lint import lint_file
from interpreter.document.catalogue import CODES
from interpreter.document.loader import LoadOptions

CASES = Path(__file__).resolve().parents[1] / "data" / "lint"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "lint-rules.md"
_EXPECT = re.compile(rb"#\s*expect:\s*(CK\d{3})\s+(\d+):(\d+)(?:[ \t]+~[ \t]*(.*))?")
_CLEAN = re.compile(rb"#\s*expect:\s*nothing\b")
_OPTIONS = re.compile(rb"#\s*options:\s*(.+)")


def _cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def _meta(case: Path) -> bytes:
    sidecar = case.with_suffix(case.suffix + ".expect")
    return sidecar.read_bytes() if sidecar.exists() else case.read_bytes()


def _expectations(case: Path) -> tuple[set[tuple[str, int, int]], LoadOptions]:
    meta = _meta(case)
    expected = {(m[1].decode(), int(m[2]), int(m[3])) for m in _EXPECT.finditer(meta)}
    options: dict[str, int] = {}
    for match in _OPTIONS.finditer(meta):
        for pair in match[1].decode().split():
            key, _, value = pair.partition("=")
            options[key] = int(value)
    return expected, LoadOptions(**options)


def _texts(case: Path) -> list[tuple[str, int, int, str]]:
    return [(m[1].decode(), int(m[2]), int(m[3]), m[4].decode().strip())
            for m in _EXPECT.finditer(_meta(case)) if m[4] and m[4].strip()]


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_lint_reports_exactly_the_expected_diagnostics(case: Path) -> None:
    expected, options = _expectations(case)
    assert expected or _CLEAN.search(_meta(case)), f"{case.name} declares no '# expect:' lines"
    diagnostics = lint_file(case.read_bytes(), str(case), options)
    found = {(d.code, d.span.line, d.span.col) for d in diagnostics}
    assert found == expected, "\n".join(str(d) for d in diagnostics)
    for code, line, col, text in _texts(case):
        said = [str(d) for d in diagnostics if (d.code, d.span.line, d.span.col)
                == (code, line, col)]
        assert any(text in one for one in said), f"{code} {line}:{col} lacks {text!r}: {said}"


def test_every_code_has_a_golden_case() -> None:
    covered = set()
    for case in _cases():
        expected, _ = _expectations(case)
        covered |= {code for code, _, _ in expected}
    assert sorted(set(CODES) - covered) == []


def test_every_code_is_documented_with_bad_and_good_examples() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code in CODES:
        assert f"## {code}" in text, f"{code} has no section in docs/lint-rules.md"
        section = text.split(f"## {code}", 1)[1].split("\n## ", 1)[0]
        if code >= "CK100":  # loader codes describe inputs, not flows
            assert "Bad" in section and "Good" in section, f"{code} lacks bad/good examples"
