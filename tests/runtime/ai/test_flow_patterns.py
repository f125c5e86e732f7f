"""A flow's own patterns on a live call: a catastrophic one is stopped at the
time bound, the outcome is traced, and the call goes on.

Python's `re` took about 20 seconds on each of these searches, with every
other call in the process stalled for as long.
"""

from __future__ import annotations

import time

from interpreter.providers.llm.scripted import ScriptedProvider
from interpreter.runtime.call import Call
from tests.runtime.ai.harness import run_ai_call, spoken

CATASTROPHIC = r"^(\\d|\\d\\d)+$"  # YAML-escaped: ^(\d|\d\d)+$
HOSTILE = "1" * 40 + "!"
ECHO = """\
rules:
  - when: {said: "code (?P<code>\\\\S+)"}
    call: {function: check_code, arguments: {code: "{code}"}}
  - when: {after_tool: check_code}
    reply: "{tool}."
  - when: {start: true}
    reply: "Here is the news. Markets rose today. Rain is expected tomorrow. Sports are next."
  - when: {said: "(?P<words>.+)"}
    reply: "You said {words}."
"""
FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You check codes.}
        params: {attention_timeout: 0, PARAMS}
        HINTS
        error_recovery:
          tool_error: {phrase: "The code checker is having trouble."}
        SWAIG:
          functions:
            - function: check_code
              description: Check a code.
              parameters:
                type: object
                properties: {code: {type: string}}
              data_map:
                expressions:
                  - string: "${args.code}"
                    pattern: "PATTERN"
                    output: {response: The code is valid}
                output: {response: The code is not valid}
    - hangup: {}
"""


def _flow(params: str = "", hints: str = "", pattern: str = "^[0-9]+$") -> str:
    return FLOW.replace("PARAMS", params).replace("HINTS", hints).replace("PATTERN", pattern)


def _timed(flow: str, caller: str) -> tuple[float, Call, list[str], ScriptedProvider]:
    started = time.perf_counter()
    call, _, channel, model = run_ai_call(flow, caller, ECHO)
    return time.perf_counter() - started, call, spoken(channel), model


def test_a_catastrophic_data_map_pattern_is_a_tool_error_and_the_call_goes_on() -> None:
    elapsed, call, heard, _ = _timed(
        _flow(pattern=CATASTROPHIC),
        f'steps:\n  - say: "code {HOSTILE}"\n  - say: "hello"\n  - hangup: {{after: 8}}\n')
    assert elapsed < 1.0
    (error,) = call.trace.of_kind("error")
    assert error["type"] == "tool_error"
    assert "data_map expression" in error["message"] and "20 ms" in error["message"]
    assert "The code checker is having trouble." in heard
    assert "You said hello." in heard


def test_a_catastrophic_hint_is_skipped_and_the_words_go_on_unchanged() -> None:
    hints = f'hints: [{{hint: digits, pattern: "{CATASTROPHIC}", replace: "a number"}}]'
    elapsed, call, heard, model = _timed(
        _flow(hints=hints),
        f'steps:\n  - say: "{HOSTILE}"\n  - say: "hello"\n  - hangup: {{after: 8}}\n')
    assert elapsed < 1.0
    skipped = call.trace.of_kind("hint_skipped")
    assert skipped and "took over 20 ms" in skipped[0]["why"]
    assert skipped[0]["pattern"] == CATASTROPHIC.replace("\\\\", "\\")
    users = [m.content for r in model.requests for m in r.messages
             if m.role == "user"]
    assert HOSTILE in users
    assert f"You said {HOSTILE}." in heard and "You said hello." in heard


def test_a_hint_rewrite_still_applies_when_it_matches_in_time() -> None:
    hints = 'hints: [{hint: mobile, pattern: "/cell (phone)/i", replace: "mobile $1"}]'
    _, _, heard, _ = _timed(_flow(hints=hints),
                            'steps:\n  - say: "my Cell Phone number"\n  - hangup: {after: 8}\n')
    assert "You said my mobile Phone number." in heard


def test_a_catastrophic_barge_match_string_does_not_interrupt_and_says_why() -> None:
    elapsed, call, heard, model = _timed(
        _flow(params=f'barge_match_string: "{CATASTROPHIC}"'),
        f'steps:\n  - say: "{HOSTILE}"\n    barge_in: 1.0\n  - hangup: {{after: 8}}\n')
    assert elapsed < 1.0
    assert not call.trace.of_kind("barge_in")
    (declined,) = call.trace.of_kind("barge_declined")
    assert declined["text"] == HOSTILE
    assert declined["why"].startswith("barge_match_string was stopped")
    # The agent finished; the words are answered in its next turn.
    assert "Sports are next." in " ".join(heard)
    assert model.requests[-1].messages[-1].content == HOSTILE
