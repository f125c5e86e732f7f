"""What the model hears when it asks for a step or context move that is refused."""

from __future__ import annotations

from tests.runtime.ai.harness import run_ai_call

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You take pizza orders.
          contexts:
            default:
              steps:
                - name: order
                  text: Take the order.
                  valid_steps: [confirm]
                  valid_contexts: [billing]
                - name: confirm
                  text: Read the order back.
                  valid_steps: [pay]
                - name: pay
                  text: Take the payment.
                  end: true
            billing:
              steps:
                - name: invoice
                  text: Answer billing questions.
                  end: true
            support:
              steps:
                - name: help
                  text: Help.
                  end: true
    - hangup: {}
"""
RULES = """\
rules:
  - when: {said: "typo step"}
    call: {function: next_step, arguments: {step: confirn}}
  - when: {said: "skip ahead"}
    call: {function: next_step, arguments: {step: pay}}
  - when: {said: "typo context"}
    call: {function: change_context, arguments: {context: biling}}
  - when: {said: "other context"}
    call: {function: change_context, arguments: {context: support}}
  - reply: "Okay."
"""


def _tool_replies(said: str) -> list[str]:
    call, _, _, model = run_ai_call(FLOW, f"""\
steps:
  - say: "{said}"
  - hangup: {{after: 5}}
""", RULES)
    assert [e["type"] for e in call.trace.of_kind("error")] == ["state_error"]
    return [m.content for m in model.requests[-1].messages if m.role == "tool"]


def test_an_unknown_step_is_named_as_unknown_with_the_closest_step() -> None:
    (reply,) = _tool_replies("typo step")
    assert 'no step named "confirn" in context "default" (did you mean "confirm"?)' in reply
    assert "valid: confirm" in reply


def test_a_step_that_exists_but_is_not_offered_is_not_reachable() -> None:
    (reply,) = _tool_replies("skip ahead")
    assert 'step "pay" is not reachable from "order"; valid: confirm' in reply


def test_an_unknown_context_is_named_as_unknown_with_the_closest_context() -> None:
    (reply,) = _tool_replies("typo context")
    assert 'no context named "biling" (did you mean "billing"?); valid: billing' in reply


def test_a_context_that_exists_but_is_not_offered_is_not_reachable() -> None:
    (reply,) = _tool_replies("other context")
    assert 'context "support" is not reachable from step "order"; valid: billing' in reply
