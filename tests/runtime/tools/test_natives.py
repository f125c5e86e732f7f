"""The reference's native functions, run in the call's actor."""

from __future__ import annotations

from tests.runtime.ai.harness import run_ai_call, spoken

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You are a receptionist.}
        params: {local_tz: Europe/Paris, attention_timeout: 0}
        SWAIG:
          native_functions: [check_time, wait_seconds, wait_for_user, adjust_response_latency]
    - hangup: {}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "time"}
    call: {function: check_time}
  - when: {said: "wait (?P<s>\\\\d+)"}
    call: {function: wait_seconds, arguments: {seconds: 5}}
  - when: {said: "quiet"}
    call: {function: wait_for_user}
  - when: {said: "slow"}
    call: {function: adjust_response_latency, arguments: {milliseconds: 2000}}
  - when: {after_tool: check_time}
    reply: "{tool}"
  - when: {after_tool: wait_seconds}
    reply: "{tool}"
  - when: {after_tool: adjust_response_latency}
    reply: "{tool}"
  - reply: "Okay."
"""


def test_natives_are_offered_with_their_signatures() -> None:
    _, _, _, model = run_ai_call(FLOW, "steps:\n  - hangup: {after: 1}\n", RULES)
    tools = {t.name: t for t in model.requests[0].tools}
    assert set(tools) == {"check_time", "wait_seconds", "wait_for_user",
                          "adjust_response_latency"}
    assert tools["wait_seconds"].parameters["properties"] == {
        "seconds": {"type": "integer", "minimum": 1, "maximum": 60}}


def test_check_time_tells_the_time_in_the_flows_time_zone() -> None:
    _, _, channel, _ = run_ai_call(FLOW, 'steps:\n  - say: "what time is it"\n'
                                   "  - hangup: {after: 8}\n", RULES)
    assert any("(Europe/Paris)" in line for line in spoken(channel))


def test_wait_seconds_waits_and_the_callers_words_end_it() -> None:
    call, _, channel, _ = run_ai_call(FLOW, 'steps:\n  - say: "wait 5 please"\n'
                                      "  - hangup: {after: 10}\n", RULES)
    assert "Waited 5 seconds." in spoken(channel)
    returned = next(r for r in call.trace.of_kind("say") if r["text"] == "Waited 5 seconds.")
    asked = next(r for r in call.trace.of_kind("turn") if r["tool_calls"] == ["wait_seconds"])
    assert 5.0 <= float(returned["t"]) - float(asked["t"]) < 5.3
    _, _, _, model = run_ai_call(FLOW, 'steps:\n  - say: "wait 5 please"\n'
                                 '  - say: "I am back"\n    after: 1\n'
                                 "  - hangup: {after: 5}\n", RULES)
    # The wait ended early; the reply answers what the caller said.
    last = model.requests[-1].messages
    assert last[-2].role == "tool" and last[-2].content.startswith("The caller spoke after")
    assert last[-1].content == "I am back"


def test_wait_for_user_and_adjust_response_latency() -> None:
    call, _, channel, _ = run_ai_call(FLOW, 'steps:\n  - say: "be quiet"\n  - wait: 3\n'
                                      '  - say: "too slow"\n    after: 0\n'
                                      "  - hangup: {after: 5}\n", RULES)
    assert call.trace.of_kind("reply_deferred")
    assert spoken(channel) == ["Hello.", "The caller now has 2000 ms of silence to finish."]
