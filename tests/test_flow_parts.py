"""Finding what a compiled flow holds, however nested."""

from __future__ import annotations

from pathlib import Path

from interpreter import ir
from interpreter.document.compile import compile_text
from interpreter.flow_parts import found_in, has_ai

FLOWS = Path(__file__).resolve().parents[1] / "flows"


def test_parts_nested_in_sections_and_ai_verbs_are_found() -> None:
    support = compile_text((FLOWS / "support.yaml").read_text(), "support.yaml")
    assert has_ai(support)
    hooks = {hook.url for hook in found_in(support, ir.Webhook)}
    assert hooks == {"http://127.0.0.1:8765/swaig", "http://127.0.0.1:8765/post_prompt"}


def test_a_flow_without_an_ai_verb_has_none() -> None:
    flow = compile_text("sections:\n  main:\n    - answer: {}\n    - hangup: {}\n", "f.yaml")
    assert not has_ai(flow) and found_in(flow, ir.Webhook) == []
