"""Fuzzing the document loader: whatever bytes arrive, the answer is a document
of plain, finite JSON data or a DocumentError with located diagnostics, never
another exception, a crash or a hang.

Inputs: random bytes; the example flows garbled byte by byte; a soup of the
tokens that matter to YAML (brackets, indicators, anchors, aliases, tags,
merge keys, quotes, escapes, control characters, huge numbers); nesting around
and far past the depth limit. Every example is bounded in size, so the set
runs in seconds.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.commands.inputs import is_flow_file
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.errors import DocumentError
from interpreter.limits import DOCUMENT_MAX_INTEGER

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [p.read_bytes() for p in sorted((ROOT / "flows").glob("*.yaml")) if is_flow_file(p)][:6]
# More examples for a long run: CALLKERNEL_FUZZ_EXAMPLES=5000 pytest tests/fuzz
EXAMPLES = int(os.environ.get("CALLKERNEL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAMES = st.sampled_from(["flow.yaml", "flow.json", "flow", "-"])

TOKENS = [
    "[", "]", "{", "}", ",", ":", ": ", "- ", "? ", "\n", "\n  ", "\n    ", "  ", "\t", "#",
    "&a ", "*a", "&b ", "*b", "<<: ", "!!str ", "!!int ", "!!float ", "!!binary ", "!x ",
    "!!python/object:os.system ", "'", '"', "'it''s'", '"\\u00e9\\x07"', '"\\ud800"', "|\n  ",
    ">-\n  ", "---\n", "...\n", "%YAML 1.2\n", "a", "key", "version", "sections", "main",
    "1", "-1", "0x1F", "0o17", "0b101", "1e999", "-1e999", ".inf", ".nan", "1_000",
    "9" * 25, "0x" + "f" * 20, "1e308", "2.5", "null", "~", "true", "yes", "=", "${x}",
    "\x00", "\x07", "\x7f", "\x85", "\u2028", "é", "\ufeff",
]
soup = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


def _check(source: str | bytes, file: str, options: LoadOptions | None = None) -> None:
    try:
        doc = load_document(source, file, options)
    except DocumentError as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.code.startswith("CK0")
            assert diagnostic.span.line >= 1 and diagnostic.span.col >= 1
            str(diagnostic)
            diagnostic.render()
        return
    assert isinstance(doc, SourceDocument)
    # Plain data: JSON without NaN or Infinity, UTF-8 encodable, integers in range.
    text = json.dumps(doc.data, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    _integers_in_range(doc.data)


def _integers_in_range(value: object) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            assert abs(item) <= DOCUMENT_MAX_INTEGER
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())


@FUZZ
@given(st.binary(max_size=400), NAMES)
def test_random_bytes_load_or_are_refused_with_diagnostics(raw: bytes, file: str) -> None:
    _check(raw, file)


@FUZZ
@given(soup, NAMES)
def test_yaml_token_soup_loads_or_is_refused_with_diagnostics(text: str, file: str) -> None:
    _check(text, file)
    _check(text.encode("utf-8", "surrogatepass"), file)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 6), st.sampled_from(TOKENS)), max_size=8))
def test_garbled_flows_load_or_are_refused_with_diagnostics(
        seed: bytes, edits: list[tuple[float, int, str]]) -> None:
    text = seed.decode()
    for where, cut, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + cut:]
    _check(text, "flow.yaml")


@FUZZ
@given(st.integers(150, 3000), st.lists(st.sampled_from(["[", "{a: ", "- ", "{\"a\": "]),
                                        min_size=1, max_size=4), NAMES)
def test_deep_nesting_is_refused_or_loads_within_the_limit(
        depth: int, openers: list[str], file: str) -> None:
    text = "".join(openers[i % len(openers)] for i in range(depth)) + "1"
    _check(text, file)
    _check(text, file, LoadOptions(max_depth=100))


@FUZZ
@given(st.one_of(
    st.integers(-10**400, 10**400).map(str),
    st.tuples(st.integers(-10, 10**6), st.integers(-2000, 2000)).map(lambda p: f"{p[0]}e{p[1]}"),
    st.integers(0, 2**300).map(hex),
    st.integers(0, 2**200).map(bin),
    st.text(alphabet="0123456789_.eE+-xob", min_size=1, max_size=40),
), NAMES)
def test_numbers_of_any_size_are_plain_data_or_refused(number: str, file: str) -> None:
    _check(f"a: {number}\nb: [{number}, {{c: {number}}}]\n", "flow.yaml")
    _check(f'{{"a": {number}, "b": [{number}]}}', "flow.json")


@FUZZ
@given(st.integers(1, 12), st.integers(1, 12), st.integers(50, 5000))
def test_alias_chains_are_bounded(fan_out: int, levels: int, budget: int) -> None:
    lines = ["a0: &a0 [x, y]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fan_out) + "]")
    _check("\n".join(lines) + "\n", "flow.yaml", LoadOptions(max_alias_nodes=budget,
                                                          max_nodes=budget * 2))
