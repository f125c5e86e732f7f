"""Loader: positions for every node, and every unsafe input refused with a location."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from interpreter.document.loader import LoadOptions, load_document
from interpreter.errors import DocumentError, DocumentTooLarge


def _error(source: str | bytes, file: str = "flow.yaml", **options: int) -> tuple[str, int, int]:
    with pytest.raises(DocumentError) as caught:
        load_document(source, file, LoadOptions(**options))
    diagnostic = caught.value.diagnostics[0]
    return diagnostic.code, diagnostic.span.line, diagnostic.span.col


def test_yaml_values_and_key_positions_are_recorded() -> None:
    doc = load_document("sections:\n  main:\n    - answer: {}\n    - hangup: {}\n", "f.yaml")
    assert doc.data == {"sections": {"main": [{"answer": {}}, {"hangup": {}}]}}
    span = doc.span(("sections", "main", 1))
    assert (span.file, span.line, span.col) == ("f.yaml", 4, 7)
    assert doc.span(("sections", "main", 1, "hangup"), key=True).line == 4
    assert doc.span(("sections", "main", 1, "hangup"), key=True).col == 7


def test_json_goes_through_the_same_path_with_positions() -> None:
    doc = load_document('{\n  "sections": {\n    "main": [{"answer": {}}]\n  }\n}', "f.json")
    assert doc.data == {"sections": {"main": [{"answer": {}}]}}
    assert doc.span(("sections", "main", 0)).line == 3
    assert doc.span(("sections", "main", 0)).col == 14


def test_span_of_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc = load_document("a:\n  b: 1\n", "f.yaml")
    assert doc.span(("a", "b", "c", 0)) == doc.span(("a", "b"))


def test_yaml_syntax_error_is_located() -> None:
    assert _error("a: [1, 2\nb: 3\n") [0] == "CK001"


def test_duplicate_key_points_at_second_occurrence() -> None:
    with pytest.raises(DocumentError) as caught:
        load_document("a: 1\nb: 2\na: 3\n", "f.yaml")
    diagnostic = caught.value.diagnostics[0]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == ("CK002", 3, 1)
    assert diagnostic.hint == "first defined at line 1"


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['echo hi']\n",
    "a: !custom 1\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x}\n",
])
def test_arbitrary_tags_are_refused(text: str) -> None:
    assert _error(text)[:2] == ("CK003", 1)


def test_alias_bomb_is_refused_fast_with_flat_memory() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    tracemalloc.start()
    started = time.process_time()
    code, line, _ = _error("\n".join(lines))
    elapsed = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert code == "CK004"
    assert line <= 10
    # Generous bounds: the point is "not exponential", not a timing target.
    assert elapsed < 2.0
    assert peak < 20 * 1024 * 1024


def test_aliases_within_the_bound_load() -> None:
    doc = load_document("base: &b {x: 1}\nother: *b\nmerged:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert doc.data == {"base": {"x": 1}, "other": {"x": 1}, "merged": {"x": 1, "y": 2}}


def test_alias_budget_is_configurable() -> None:
    text = "a: &a [1, 2, 3, 4]\nb: [*a, *a, *a]\n"
    assert _error(text, max_alias_nodes=10)[0] == "CK004"
    assert load_document(text, "f.yaml", LoadOptions(max_alias_nodes=100)).data["b"] == [
        [1, 2, 3, 4]] * 3


def test_oversized_document_is_refused_before_parsing() -> None:
    with pytest.raises(DocumentTooLarge) as caught:
        load_document(b"a: 1\n" * 1000, "f.yaml", LoadOptions(max_bytes=100))
    assert caught.value.diagnostics[0].code == "CK005"


def test_default_size_limit_is_two_mebibytes() -> None:
    assert _error(b"#" * (2 * 1024 * 1024 + 1))[0] == "CK005"


def test_non_utf8_is_located_at_the_bad_byte() -> None:
    assert _error(b"a: 1\nb: caf\xe9\n") == ("CK006", 2, 7)


def test_json_syntax_error_uses_json_positions() -> None:
    assert _error('{\n  "a": 1,\n}', "f.json") == ("CK007", 3, 1)


@pytest.mark.parametrize("text", ["", "a: .inf\n", "? [1, 2]\n: x\n"])
def test_non_json_data_is_refused(text: str) -> None:
    assert _error(text)[0] == "CK008"


def test_scalars_follow_yaml_1_2_and_stay_json() -> None:
    doc = load_document("a: yes\nb: 2024-01-01\nc: 0x1F\nd: 1.5\ne: ~\nf: True\n1: one\n",
                        "f.yaml")
    assert doc.data == {"a": "yes", "b": "2024-01-01", "c": 31, "d": 1.5, "e": None, "f": True,
                        "1": "one"}


def test_bom_is_ignored() -> None:
    assert load_document("\ufeffa: 1\n".encode(), "f.yaml").data == {"a": 1}


def test_multiple_documents_in_one_stream_are_refused() -> None:
    assert _error("a: 1\n---\nb: 2\n")[0] == "CK001"
