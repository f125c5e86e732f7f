"""The scripted model: what `said` reads after a tool result, typed arguments,
telling a failed tool from a successful one, and CK801 with the caret on the
right spot."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from interpreter.errors import DocumentError
from interpreter.providers.llm.base import (
    ChatMessage,
    LlmError,
    LlmRequest,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolSpec,
)
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ChatMessage("system", "You are a pizza agent.\n## Current step: order\n")
PIZZA = ToolSpec("add_pizza", "Add pizzas to the order.", {
    "type": "object", "properties": {
        "count": {"type": "integer"}, "size": {"type": "string"},
        "price": {"type": "number"}, "extra_cheese": {"type": "boolean"},
        "details": {"type": "object", "properties": {"slices": {"type": "integer"}}}}})


def _model(rules: str) -> ScriptedProvider:
    model = load_rules(rules, "rules.yaml")
    model.default_delay_ms = 0
    return model


def _answer(model: ScriptedProvider, *messages: ChatMessage,
            tools: tuple[ToolSpec, ...] = (PIZZA,)) -> tuple[str, list[ToolCall]]:
    async def collect() -> tuple[str, list[ToolCall]]:
        text, calls = "", []
        async for item in model.stream(LlmRequest((SYSTEM, *messages), tools)):
            if isinstance(item, TextDelta):
                text += item.text
            elif isinstance(item, ToolCallReady):
                calls.append(item.call)
        return text, calls

    return asyncio.run(collect())


def _after_tool(said: str, result: str, name: str = "add_pizza") -> tuple[ChatMessage, ...]:
    call = ToolCall("call_1", name, "{}")
    return (ChatMessage("user", said), ChatMessage("assistant", tool_calls=(call,)),
            ChatMessage("tool", result, tool_call_id="call_1"))


# ------------------------------------------------------------------ said


def test_said_on_its_own_answers_the_caller_and_does_not_fire_after_a_tool_result() -> None:
    # The usual order: the `said` rule calls the tool, the `after_tool` rule
    # answers its result. Were `said` to match again after the result, the
    # call would repeat instead.
    model = _model("""\
rules:
  - when: {said: "two pizzas"}
    call: {function: add_pizza, arguments: {}}
  - when: {after_tool: add_pizza}
    reply: "Added."
""")
    _, calls = _answer(model, ChatMessage("user", "Two pizzas please"))
    assert [c.name for c in calls] == ["add_pizza"]
    text, calls = _answer(model, *_after_tool("Two pizzas please", "Added 2."))
    assert (text, calls) == ("Added.", [])


def test_said_beside_after_tool_reads_the_callers_latest_words() -> None:
    model = _model("""\
rules:
  - when: {after_tool: add_pizza, said: "(?P<what>pepperoni|margherita)"}
    reply: "{tool} One {what}, you said: {said}"
  - when: {after_tool: add_pizza}
    reply: "{tool} Which kind?"
""")
    text, _ = _answer(model, *_after_tool("A pepperoni one", "Added."))
    assert text == "Added. One pepperoni, you said: A pepperoni one"
    text, _ = _answer(model, *_after_tool("Just a pizza", "Added."))
    assert text == "Added. Which kind?"


def test_said_beside_prompted_reads_the_callers_words_before_the_system_note() -> None:
    model = _model("""\
rules:
  - when: {prompted: "silent", said: "order"}
    reply: "Are you still there? We were on your order."
  - when: {prompted: "silent"}
    reply: "Are you still there?"
""")
    text, _ = _answer(model, ChatMessage("user", "About my order"),
                      ChatMessage("assistant", "Sure, which one?"),
                      ChatMessage("system", "The caller has been silent."))
    assert text == "Are you still there? We were on your order."


def test_the_said_placeholder_holds_the_callers_words_after_a_tool_result() -> None:
    model = _model("""\
rules:
  - when: {after_tool: add_pizza}
    reply: "You said: {said}"
""")
    text, _ = _answer(model, *_after_tool("Three large ones", "Added."))
    assert text == "You said: Three large ones"


# ------------------------------------------------------------------ typed arguments


def test_a_whole_placeholder_argument_takes_the_type_of_its_parameter() -> None:
    model = _model("""\
rules:
  - when: {said: "(?P<n>\\\\d+) (?P<size>\\\\w+) at (?P<price>[\\\\d.]+)(?P<cheese> extra cheese)?"}
    call:
      function: add_pizza
      arguments:
        count: "{n}"
        size: "{size}"
        price: "{price}"
        extra_cheese: "yes"
        details: {slices: "{n}"}
        note: "{n} pizzas"
""")
    _, calls = _answer(model, ChatMessage("user", "3 large at 12.50"))
    assert json.loads(calls[0].arguments) == {
        "count": 3, "size": "large", "price": 12.5, "extra_cheese": "yes",
        "details": {"slices": 3}, "note": "3 pizzas"}


@pytest.mark.parametrize(("captured", "parameter", "sent"), [
    ("12", {"type": "integer"}, 12),
    ("-4", {"type": ["integer", "null"]}, -4),
    ("2.5", {"type": "number"}, 2.5),
    ("7", {"type": "number"}, 7),
    ("Yes", {"type": "boolean"}, True),
    ("false", {"type": "boolean"}, False),
    ("twelve", {"type": "integer"}, "twelve"),  # not a number: the runtime refuses it
    ("12", {"type": "string"}, "12"),
    ("12", {}, "12"),
])
def test_typed_values_follow_the_schema_and_the_text(captured: str,
                                                     parameter: dict[str, object],
                                                     sent: object) -> None:
    tool = ToolSpec("f", "", {"type": "object", "properties": {"x": parameter}})
    model = _model('rules:\n  - when: {said: "(?P<x>.+)"}\n'
                   '    call: {function: f, arguments: {x: "{x}"}}\n')
    _, calls = _answer(model, ChatMessage("user", captured), tools=(tool,))
    assert json.loads(calls[0].arguments) == {"x": sent}


def test_a_function_not_offered_gets_text_arguments() -> None:
    model = _model('rules:\n  - when: {said: "(?P<n>\\\\d+)"}\n'
                   '    call: {function: add_pizza, arguments: {count: "{n}"}}\n')
    _, calls = _answer(model, ChatMessage("user", "2"), tools=())
    assert json.loads(calls[0].arguments) == {"count": "2"}


# ------------------------------------------------------------------ tool errors


RECOVERY = """\
rules:
  - when: {after_tool_error: add_pizza}
    reply: "Sorry, that failed ({tool_error})."
  - when: {after_tool: add_pizza}
    reply: "Done: {tool} [{tool_error}]"
"""


def test_after_tool_error_answers_only_a_failed_call_and_tool_error_holds_why() -> None:
    model = _model(RECOVERY)
    failed = "Error: the webhook did not reply within 5 seconds"
    assert _answer(model, *_after_tool("two", failed))[0] == \
        "Sorry, that failed (the webhook did not reply within 5 seconds)."
    assert _answer(model, *_after_tool("two", "Added 2."))[0] == "Done: Added 2. []"


def test_after_tool_alone_also_answers_a_failure_with_the_error_in_tool() -> None:
    model = _model('rules:\n  - when: {after_tool: add_pizza}\n    reply: "{tool}"\n')
    assert _answer(model, *_after_tool("two", "Error: boom"))[0] == "Error: boom"


def test_after_tool_error_names_the_function() -> None:
    model = _model(RECOVERY + '  - reply: "other"\n')
    assert _answer(model, *_after_tool("two", "Error: boom", name="other"))[0] == "other"


# ------------------------------------------------------------------ CK801


# Each bad rules file: the message, and where the caret goes (line, column).
BAD_RULES = [
    ("rules:\n  - when: {said: hi, sayd: hi}\n    reply: x\n",
     'unknown condition "sayd"', (2, 22), 'did you mean "said"?'),
    ("rules:\n  - when:\n      aftertool: f\n    reply: x\n",
     'unknown condition "aftertool"', (3, 7), 'did you mean "after_tool"?'),
    ("rules:\n  - replly: x\n", 'unknown key "replly" in a rule', (2, 5),
     'did you mean "reply"?'),
    ("rules: {}\n", "a scripted model needs a `rules:` list", (1, 8), None),
    ("rules:\n  - hi\n", "each rule is a map", (2, 5), None),
    ("rules:\n  - when: [said]\n    reply: x\n", "`when` is a map of conditions", (2, 11),
     None),
    ("rules:\n  - when: {start: yes please}\n    reply: x\n", "`start` is true or false",
     (2, 19), None),
    ("rules:\n  - when: {step: 3}\n    reply: x\n", "`step` is a text, not a number",
     (2, 18), None),
    ("rules:\n  - when: {said: '(unclosed'}\n    reply: x\n", "invalid regular expression",
     (2, 18), None),
    ("rules:\n  - call: check_order\n", "`call` is {function: NAME, arguments: {…}}",
     (2, 11), None),
    ("rules:\n  - fail: boom\n", "`fail` is one of", (2, 11), None),
    ("rules:\n  - reply: {a: 1}\n", "`reply` is a text, not a map", (2, 12), None),
    ("rules:\n  - reply: x\n    times: 0\n", "`times` is a whole number of 1 or more",
     (3, 12), None),
    ("rules:\n  - reply: x\n    delay_ms: -5\n", "`delay_ms` is a number of milliseconds",
     (3, 15), None),
    ("rules:\n  - when: {said: hi}\n", "a rule answers with `reply`, `call` or `fail`",
     (2, 5), None),
    ("rules: []\nmodel: gpt\n", 'unknown key "model"', (2, 1), None),
]


@pytest.mark.parametrize(("text", "message", "where", "hint"), BAD_RULES)
def test_bad_rules_are_ck801_at_the_spot(text: str, message: str, where: tuple[int, int],
                                         hint: str | None) -> None:
    with pytest.raises(DocumentError) as raised:
        load_rules(text, "rules.yaml")
    [diagnostic] = [d for d in raised.value.diagnostics if d.message.startswith(message)]
    assert diagnostic.code == "CK801"
    assert (diagnostic.span.line, diagnostic.span.col) == where
    assert diagnostic.hint == hint


def _documented_messages() -> list[str]:
    """The first cells of docs/ai.md's CK801 table, up to any "…"."""
    docs = (ROOT / "docs" / "ai.md").read_text()
    table = docs[docs.index("### CK801"):].split("\n\n")[2]
    rows = [line.split(" | ")[0].removeprefix("| ") for line in table.splitlines()[2:]]
    return [row.split("…")[0].rstrip(' "(') for row in rows]


def test_the_ck801_messages_and_the_docs_table_match() -> None:
    documented = _documented_messages()
    assert len(documented) >= 15
    messages = []
    for text, _, _, _ in BAD_RULES:
        with pytest.raises(DocumentError) as raised:
            load_rules(text, "rules.yaml")
        messages += [diagnostic.message for diagnostic in raised.value.diagnostics]
    for message in messages:
        assert any(message.startswith(row) for row in documented), message
    for row in documented:  # and each row is a message the cases above produce
        assert any(message.startswith(row) for message in messages), row


def test_the_shipped_and_documented_rules_load() -> None:
    for path in sorted((ROOT / "flows").glob("*.model.yaml")):
        load_rules(path.read_bytes(), str(path))
    docs = (ROOT / "docs" / "ai.md").read_text()
    section = docs[docs.index("## The scripted model"):docs.index("## gather_info")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert blocks
    for block in blocks:
        if block.startswith("rules:"):
            load_rules(block, "docs")


# ------------------------------------------------------------------ fail


def test_a_reply_with_a_fail_streams_its_words_then_cuts_the_stream() -> None:
    model = _model('rules:\n  - reply: "Your order is on"\n    fail: protocol\n')
    words: list[str] = []

    async def collect() -> None:
        async for item in model.stream(LlmRequest((SYSTEM, ChatMessage("user", "hi")))):
            if isinstance(item, TextDelta):
                words.append(item.text)

    with pytest.raises(LlmError) as cut:
        asyncio.run(collect())
    assert "".join(words).split() == ["Your", "order", "is", "on"]
    assert (cut.value.kind, cut.value.retryable) == ("protocol", True)


def test_a_pattern_that_backtracks_without_end_fails_the_model_not_the_loop() -> None:
    # Unbounded, 40 a's before the "!" would take hours; the bound stops it in
    # one media tick, and the call sees a classified model failure.
    model = _model('rules:\n  - when: {said: "(a|aa)+$"}\n    reply: never\n')
    with pytest.raises(LlmError) as failed:
        _answer(model, ChatMessage("user", "a" * 40 + "!"))
    assert "took too long" in str(failed.value) and not failed.value.retryable
