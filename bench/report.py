"""Write a benchmark's figures into docs/performance.md between its markers."""

from __future__ import annotations

import re
from pathlib import Path

PERFORMANCE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
_HEADER = """# Performance

Figures written by the benchmarks under `bench/` (run `make bench`). Each
section is replaced when its benchmark runs; the machine and date are recorded
with the figures. Targets come from DESIGN.md.
"""


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = PERFORMANCE.read_text(encoding="utf-8") if PERFORMANCE.exists() else _HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else \
        text.rstrip() + "\n\n" + block + "\n"
    PERFORMANCE.write_text(text, encoding="utf-8")
