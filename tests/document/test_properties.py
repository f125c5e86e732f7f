"""Property tests: whatever a document looks like, lint answers with diagnostics.

Mutations start from the example flows and the SDK fixtures (realistic shapes)
and break them at random: keys renamed or dropped, values replaced by other
JSON, lists shuffled, text spliced. Lint must return diagnostics and never
raise; a document that lints without errors must compile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.commands.inputs import is_flow_file
from interpreter.diagnostics import has_errors
from interpreter.document.compile import _Compiler
from interpreter.document.lint import lint_text
from interpreter.document.loader import load_document

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p.read_text() for p in sorted((ROOT / "flows").glob("*.yaml")) if is_flow_file(p)] + [
    p.read_text() for p in sorted((ROOT / "tests" / "data" / "sdk").glob("*.swml.json"))]
SEEDS = [load_document(text, "seed.yaml").data for text in SOURCES]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=30),
                         st.sampled_from(["${vars.x", "%{a +}", "${x => 1}", "next", "main",
                                          "say:hi", "http://u:p@h/x", "${lc:args.q}"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _mutate(data: Any, draw: st.DrawFn) -> Any:
    data = json.loads(json.dumps(data))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        target = draw(st.sampled_from(paths))
        if not target:
            continue
        parent: Any = data
        for part in target[:-1]:
            parent = parent[part]
        key = target[-1]
        action = draw(st.sampled_from(["replace", "delete", "rename", "duplicate"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(key)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
    return data


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    seed = draw(st.sampled_from(SEEDS))
    return json.dumps(_mutate(seed, draw))


def _check(text: str, name: str) -> None:
    doc, diagnostics = lint_text(text, name)
    assert all(d.span.line >= 1 and d.code.startswith("CK") for d in diagnostics)
    if doc is not None and not has_errors(diagnostics):
        _Compiler(doc).compile()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_mutated_documents_get_diagnostics_never_exceptions(text: str) -> None:
    _check(text, "mutated.json")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SOURCES), st.integers(0, 10**6), st.text(max_size=8))
def test_spliced_yaml_text_gets_diagnostics_never_exceptions(source: str, at: int,
                                                             junk: str) -> None:
    position = at % (len(source) + 1)
    _check(source[:position] + junk + source[position:], "spliced.yaml")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_get_diagnostics_never_exceptions(raw: bytes) -> None:
    _check(raw.decode("latin-1"), "bytes.yaml")
    doc, diagnostics = lint_text(raw, "bytes.yaml")
    assert doc is not None or diagnostics
