"""Compiler: references resolved to objects, defaults filled, deterministic hashes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from interpreter import ir
from interpreter.commands.inputs import is_flow_file
from interpreter.document.compile import compile_flow, compile_text
from interpreter.document.lint import lint_text
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError, ErrorType

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
FLOWS = sorted(p for p in (ROOT / "flows").glob("*.yaml") if is_flow_file(p))


def _compile(path: Path) -> ir.CompiledFlow:
    return compile_text(path.read_bytes(), str(path))


def _ai(flow: ir.CompiledFlow) -> ir.Ai:
    for section in flow.sections:
        for verb in section.body:
            if isinstance(verb, ir.Ai):
                return verb
    raise AssertionError("no ai verb")


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_example_flows_are_lint_clean_even_strict(path: Path) -> None:
    _, diagnostics = lint_text(path.read_bytes(), str(path))
    assert [str(d) for d in diagnostics] == []
    _compile(path)


def test_seed_agent_compiles_to_the_documented_prompt_tool_and_voice() -> None:
    agent = _ai(_compile(DATA / "sdk_seed_agent.swml.json"))
    assert agent.prompt.text.source == (
        "## Instructions\n\nYou are a customer support agent. "
        "Greet the caller and resolve their issue.\n")
    (check_order,) = agent.functions
    assert check_order.name == "check_order"
    assert check_order.webhook is not None
    assert check_order.webhook.url.startswith("http://localhost:33159/support/swaig/?__token=")
    assert (check_order.webhook.user, check_order.webhook.password) == ("seeduser", "seedpass")
    assert check_order.parameters["required"] == ("order_id",)
    (english,) = agent.languages
    assert (english.engine, english.voice, english.model) == ("rime", "spore", "mistv2")


def test_step_references_are_the_step_objects() -> None:
    agent = _ai(_compile(ROOT / "flows" / "appointment_booking.yaml"))
    context = agent.contexts[0]
    steps = {step.name: step for step in context.steps}
    assert agent.start_context is context
    assert steps["find_slot"].valid_steps == (steps["confirm"], steps["greeting"])
    assert steps["greeting"].valid_steps == (steps["find_slot"],)  # "next"
    assert steps["greeting"].functions == ()  # functions: none
    assert [f.name for f in steps["find_slot"].functions] == ["check_availability"]
    assert steps["find_slot"].functions[0] is agent.functions[0]


SOURCE = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - label: top
    - execute: {dest: helper, params: {n: "%{vars.n}"}}
    - cond:
        - when: "return_value == 'again'"
          then:
            - goto: {label: top, max: 2}
    - ai:
        prompt:
          text: Hello ${global_data.name}
          contexts:
            first:
              steps:
                - name: ask
                  text: Ask.
                  gather_info:
                    questions: [{key: city, question: "Which city?"}]
                    completion_action: next_step
                - name: answer
                  text: Answer.
                  valid_contexts: [second]
            second:
              steps:
                - name: bye
                  text: Bye.
                  end: true
        params: {hard_stop_time: 1h45m30s, enable_barge: complete}
        error_recovery:
          tool_timeout: {phrase: Still checking., max_retries: 4}
        SWAIG:
          functions:
            - function: lookup
              description: Look something up.
              parameters: {type: object, properties: {q: {type: string}}}
              data_map:
                expressions:
                  - {string: "${args.q}", pattern: "/sales/i", output: {response: sales}}
  helper:
    - return: again
"""


def test_sections_labels_and_gather_completion_resolve() -> None:
    flow = compile_text(SOURCE, "inline.yaml")
    main, helper = flow.sections
    execute = main.body[2]
    assert isinstance(execute, ir.Execute) and execute.dest.section is helper
    cond = main.body[3]
    assert isinstance(cond, ir.Cond)
    goto = cond.branches[0].then[0]
    assert isinstance(goto, ir.Goto)
    assert (goto.index, goto.in_same_list, goto.max) == (1, False, 2)
    agent = main.body[4]
    assert isinstance(agent, ir.Ai)
    first, second = agent.contexts
    assert agent.start_context is first  # no "default": the first context starts
    ask, answer = first.steps
    assert ask.gather_info is not None and ask.gather_info.completion_step is answer
    assert answer.valid_contexts == (second,)


def test_defaults_are_filled_and_overrides_merge() -> None:
    agent = compile_text(SOURCE, "inline.yaml").sections[0].body[4]
    assert isinstance(agent, ir.Ai)
    assert agent.params.hard_stop_time_s == 6330.0
    assert agent.params.barge.mode is ir.Barge.COMPLETE
    assert agent.params.listen.end_of_speech_ms == 700
    timeout = agent.error_recovery[ErrorType.TOOL_TIMEOUT]
    assert (timeout.phrase, timeout.max_retries) == ("Still checking.", 4)
    assert timeout.fatal is ErrorType.TOOL_TIMEOUT.default_policy.fatal
    assert agent.error_recovery[ErrorType.MEDIA_ERROR] == ErrorType.MEDIA_ERROR.default_policy
    (expression,) = agent.functions[0].data_map.expressions  # type: ignore[union-attr]
    assert expression.pattern.pattern == "sales" and expression.pattern.search("SALES")


def test_ir_is_immutable() -> None:
    flow = compile_text(SOURCE, "inline.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.main.name = "other"  # type: ignore[misc]


def test_hash_is_deterministic_and_ignores_formatting() -> None:
    first = compile_text(SOURCE, "a.yaml")
    again = compile_text(SOURCE, "b.yaml")
    as_json = json.dumps(load_document(SOURCE, "a.yaml").data, indent=4)
    reformatted = compile_text(as_json, "c.json")
    changed = compile_text(SOURCE.replace("Ask.", "Ask politely."), "d.yaml")
    assert first.content_hash == again.content_hash == reformatted.content_hash
    assert changed.content_hash != first.content_hash


def test_compile_refuses_documents_with_errors() -> None:
    with pytest.raises(DocumentError) as caught:
        compile_text(SOURCE.replace("dest: helper", "dest: helpr"), "e.yaml")
    assert [d.code for d in caught.value.diagnostics] == ["CK101"]


def test_compile_flow_returns_warnings_alongside_the_flow() -> None:
    doc = load_document(SOURCE + "  spare:\n    - hangup: {}\n", "f.yaml")
    flow, warnings = compile_flow(doc)
    assert flow.section("spare") is not None
    assert [w.code for w in warnings] == ["CK306"]
