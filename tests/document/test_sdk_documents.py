"""Documents the SignalWire Agents SDK serves (tests/data/sdk) are never rejected.

Every fixture lints without errors and compiles. The SDK's value forms that
SWML does not document are warned about (CK605/CK606) where the fixtures hold
them, and reach the IR as the typed values the platform reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interpreter import ir
from interpreter.diagnostics import Severity
from interpreter.document.compile import compile_flow, compile_text
from interpreter.document.loader import load_document
from interpreter.document.pom import render_pom

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "tests" / "data" / "sdk"
FIXTURES = sorted([ROOT / "tests" / "data" / "sdk_seed_agent.swml.json",
                   *SDK.glob("*.swml.json")])
POM_RENDERED: dict[str, dict[str, str]] = json.loads(
    (SDK / "pom_rendered.json").read_text(encoding="utf-8"))

_FOREACH = "sections/main/1/ai/SWAIG/functions/1/data_map/webhooks"
# Every warning the fixtures produce, by JSON path: what the SDK emits that SWML
# does not document, and the one method callkernel does not run.
EXPECTED_WARNINGS = {
    "bedrock.swml.json": {("CK601", "sections/main/1")},
    "datamap_catalogue.swml.json": {
        ("CK605", f"{_FOREACH}/0/foreach/append"), ("CK605", f"{_FOREACH}/1/foreach/max"),
        ("CK605", f"{_FOREACH}/1/foreach/append"), ("CK606", f"{_FOREACH}/2/foreach/max"),
        ("CK605", f"{_FOREACH}/3/foreach/append")},
    "result_actions.swml.json": {
        ("CK605", "sections/main/1/ai/SWAIG/functions/1/data_map/expressions/0/output/"
                  "action/1/SWML/transfer")},
    "skills_catalogue.swml.json": {
        ("CK605", "sections/main/1/ai/SWAIG/functions/8/parameters/properties/bias_lat/required"),
        ("CK605", "sections/main/1/ai/SWAIG/functions/8/parameters/properties/bias_lng/required"),
        ("CK606", "sections/main/1/ai/SWAIG/functions/22/is_hangup_hook")},
}


def _compile(name: str) -> ir.CompiledFlow:
    return compile_text((SDK / name).read_bytes(), name)


def _ai(flow: ir.CompiledFlow) -> ir.Ai:
    return next(verb for verb in flow.main.body if isinstance(verb, ir.Ai))


def _function(agent: ir.Ai, name: str) -> ir.Function:
    return next(function for function in agent.functions if function.name == name)


def _thaw(value: Any) -> Any:
    if isinstance(value, ir.SwaigText):
        return value.source
    if isinstance(value, tuple | list):
        return [_thaw(item) for item in value]
    if hasattr(value, "items"):
        return {key: _thaw(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_sdk_document_lints_without_errors_and_compiles(path: Path) -> None:
    flow, diagnostics = compile_flow(load_document(path.read_bytes(), str(path)))
    assert [str(d) for d in diagnostics if d.severity is Severity.ERROR] == []
    assert flow.content_hash.startswith("sha256:")
    found = {(d.code, "/".join(map(str, d.path))) for d in diagnostics}
    assert found == EXPECTED_WARNINGS.get(path.name, set())


def test_every_fixture_is_described_in_the_readme() -> None:
    readme = (SDK / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in SDK.glob("*.swml.json") if f"`{p.name}`" not in readme] == []


def test_foreach_values_of_other_types_become_templates_and_counts() -> None:
    rooms = _function(_ai(_compile("datamap_catalogue.swml.json")), "list_rooms")
    assert rooms.data_map is not None
    foreach = [hook.foreach for hook in rooms.data_map.webhooks]
    assert all(item is not None for item in foreach)
    # append true, 101, a template, null; max absent, "3", "${args.floor}", absent
    assert [item.append.source for item in foreach if item] == ["true", "101", "${this.name} ",
                                                               ""]
    assert [item.max for item in foreach if item] == [None, 3, None, None]


def test_transfer_inside_an_actions_swml_is_moved_beside_it() -> None:
    swml = _function(_ai(_compile("result_actions.swml.json")), "swml_actions")
    assert swml.data_map is not None
    actions = [_thaw(action) for action in swml.data_map.expressions[0].output.actions]
    inline, transferred = actions[0], actions[1]
    assert "transfer" not in inline and "transfer" not in inline["SWML"]
    assert transferred["transfer"] == "true"
    assert transferred["SWML"] == {"version": "1.0.0",
                                   "sections": {"main": [{"hangup": {}}]}}


def test_draft3_required_flags_become_the_required_list() -> None:
    place = _function(_ai(_compile("skills_catalogue.swml.json")), "find_place")
    parameters = _thaw(place.parameters)
    assert "required" not in parameters  # both flags were false
    assert all("required" not in schema for schema in parameters["properties"].values())
    source = """\
sections:
  main:
    - ai:
        prompt: {text: Hi.}
        SWAIG:
          functions:
            - function: book
              description: Book a room.
              parameters:
                type: object
                properties:
                  room: {type: integer, description: Room, required: true}
                  guest: {type: string, description: Guest, required: true}
                  note: {type: string, description: Note, required: false}
                required: [guest]
              web_hook_url: https://hooks.example.com/book
"""
    book = _ai(compile_text(source, "inline.yaml")).functions[0]
    assert _thaw(book.parameters)["required"] == ["guest", "room"]


def test_is_hangup_hook_leaves_an_ordinary_function() -> None:
    agent = _ai(_compile("skills_catalogue.swml.json"))
    cleanup = _function(agent, "_mcp_gateway_hangup")
    assert cleanup.webhook is not None and not cleanup.native


@pytest.mark.parametrize("key", sorted(POM_RENDERED))
def test_pom_renders_as_the_reference_renderer(key: str) -> None:
    name, pointer = key.split("#", 1)
    node: Any = json.loads((SDK / name).read_text(encoding="utf-8"))
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert render_pom(node) == POM_RENDERED[key]["markdown"]
    assert render_pom(node, "xml") == POM_RENDERED[key]["xml"]


def test_compiled_prompt_is_the_reference_markdown() -> None:
    agent = _ai(_compile("pom_prompts.swml.json"))
    reference = POM_RENDERED["pom_prompts.swml.json#/sections/main/1/ai/prompt/pom"]
    assert agent.prompt.text.source == reference["markdown"]
    assert "## 3. Procedure" in reference["markdown"]  # numbered siblings number them all
