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


# ------------------------------------------------------------ hostile input (issue 9)

def _timed_error(source: str | bytes, file: str = "flow.yaml",
                 **options: int) -> tuple[str, int, int, float]:
    started = time.perf_counter()
    code, line, col = _error(source, file, **options)
    return code, line, col, time.perf_counter() - started


def test_deep_yaml_is_refused_at_the_first_level_too_deep_without_crashing() -> None:
    # 30,000 levels crashed the C composer with a segmentation fault, and libyaml's
    # scanner slows quadratically with flow depth: the parse must stop at level 201.
    text = "version: '1.0.0'\nsections:\n  main:\n    - set:\n        a: " \
        + "[" * 30_000 + "]" * 30_000 + "\n"
    code, line, col, elapsed = _timed_error(text)
    assert (code, line, col) == ("CK004", 5, 12 + 196)  # the 201st level of the document
    assert elapsed < 1.0


def test_deep_block_yaml_is_refused() -> None:
    code, line, _, elapsed = _timed_error("a:\n" + "- " * 50_000 + "x\n")
    assert (code, line) == ("CK004", 2)
    assert elapsed < 1.0


def test_deep_json_is_refused_before_json_recurses() -> None:
    # 10,000 levels raised RecursionError from json.loads.
    text = '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"
    assert _timed_error(text, "flow.json")[:3] == ("CK004", 1, 7 + 199)


def test_nesting_at_the_limit_loads() -> None:
    doc = load_document("a: " + "[" * 199 + "]" * 199 + "\n", "f.yaml")
    assert isinstance(doc.data, dict)
    assert _error("a: " + "[" * 200 + "1" + "]" * 200 + "\n")[0] == "CK004"


def test_aliases_count_at_the_depth_they_expand_to() -> None:
    # Each anchor is shallow enough; the alias lands 51 levels down: 201 in all.
    text = "a: &a " + "[" * 150 + "]" * 150 + "\nb: " + "[" * 51 + "*a" + "]" * 51 + "\n"
    assert _error(text) == ("CK004", 2, 55)
    fits = "a: &a " + "[" * 150 + "]" * 150 + "\nb: " + "[" * 50 + "*a" + "]" * 50 + "\n"
    assert load_document(fits, "f.yaml").data["b"] is not None


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert _error("a: &a [1, *a]\n")[:2] == ("CK004", 1)
    assert _error("a: *nowhere\n")[0] == "CK001"


def test_a_document_with_too_many_values_is_refused_fast() -> None:
    # 950,000 scalars in 1.9 MB took 1 GB and 20 s to load before being accepted.
    text = "version: '1.0.0'\nitems: [" + ",".join(["1"] * 950_000) + "]\n"
    code, line, _, elapsed = _timed_error(text)
    assert (code, line) == ("CK005", 2)
    assert elapsed < 10.0  # generous for a loaded machine; about 1 s on a quiet one


def test_value_limit_is_configurable_and_counts_alias_expansion() -> None:
    assert _error("a: [1, 2, 3, 4, 5]\n", max_nodes=5)[0] == "CK005"
    assert load_document("a: [1, 2, 3]\n", "f.yaml", LoadOptions(max_nodes=6)).data == {
        "a": [1, 2, 3]}
    assert _error("a: &a [1, 2]\nb: *a\nc: *a\n", max_nodes=9)[:2] == ("CK005", 3)


@pytest.mark.parametrize(("text", "col"), [
    ("sleep: 1e999\n", 8),
    ("sleep: -1e999\n", 8),
    ("sleep: " + "9" * 400 + "\n", 8),
    ("sleep: 0x" + "f" * 17 + "\n", 8),
    ("sleep: 9223372036854775808\n", 8),
    ("sleep: [1, 2, 0b" + "1" * 64 + "]\n", 15),
])
def test_numbers_out_of_range_are_refused_where_they_are(text: str, col: int) -> None:
    assert _error(text) == ("CK009", 1, col)


def test_json_numbers_out_of_range_are_located() -> None:
    assert _error('{\n  "a": [1, 1e999]\n}', "f.json") == ("CK009", 2, 12)
    assert _error('{"a": ' + "1" * 5000 + "}", "f.json") == ("CK009", 1, 7)


def test_numbers_in_range_load() -> None:
    doc = load_document("a: 9223372036854775807\nb: -9223372036854775807\nc: 1.7e308\n"
                        "d: 0x000000000000000000000000000000042\ne: 0x7fffffffffffffff\n",
                        "f.yaml")
    assert doc.data == {"a": 2**63 - 1, "b": -(2**63 - 1), "c": 1.7e308, "d": 0x42,
                        "e": 2**63 - 1}


def test_control_characters_are_located_where_they_are() -> None:
    # They were reported at 1:1; the parser counts UTF-8 bytes, we count characters.
    assert _error("a: 1\nbé: héllo\x07 there\n") == ("CK001", 2, 10)
    assert _error("a: 1\nb: [x, y]\n\x00\n") == ("CK001", 3, 1)


def test_a_lone_surrogate_in_text_is_refused_as_not_utf8() -> None:
    assert _error("a: 1\nb: x\ud800\n") == ("CK006", 2, 5)


def test_empty_and_equals_scalars() -> None:
    assert load_document("a: =\nb: '='\n", "f.yaml").data == {"a": "=", "b": "="}


def test_spans_of_lists_and_maps_end_where_they_end() -> None:
    doc = load_document("a:\n  - 1\n  - [2, 3]\nb: {c: 4}\n", "f.yaml")
    inner = doc.span(("a", 1))
    assert (inner.line, inner.col, inner.end_line, inner.end_col) == (3, 5, 3, 11)
    whole = doc.span(("b",))
    assert (whole.line, whole.col, whole.end_line, whole.end_col) == (4, 4, 4, 10)


def test_merge_keys_take_maps_and_lists_of_maps() -> None:
    doc = load_document("x: &x {a: 1}\ny: &y {b: 2}\nz:\n  <<: [*x, *y, {c: 3}]\n  a: 0\n",
                        "f.yaml")
    assert doc.data["z"] == {"a": 0, "b": 2, "c": 3}
    assert _error("x: &x [1]\nz:\n  <<: [*x]\n")[0] == "CK008"
    assert _error("z:\n  <<: 3\n")[0] == "CK008"
