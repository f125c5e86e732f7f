"""The ai session's next move: one state, one guarded transition function."""

from __future__ import annotations

import pytest

from interpreter.runtime.ai.next_move import Move, NextMove


@pytest.mark.parametrize(("first", "then", "final"), [
    (Move.END, Move.HANG_UP, Move.HANG_UP),  # a hangup after a stop wins
    (Move.TRANSFER, Move.HANG_UP, Move.HANG_UP),
    (Move.HANG_UP, Move.END, Move.HANG_UP),  # nothing takes a hangup back
    (Move.HANG_UP, Move.TRANSFER, Move.HANG_UP),
    (Move.TRANSFER, Move.END, Move.TRANSFER),
])
def test_later_moves_only_escalate(first: Move, then: Move, final: Move) -> None:
    move = NextMove()
    assert move.to(first, "first")
    move.to(then, "then")
    assert move.state is final and move.over


def test_nothing_goes_back_to_conversing() -> None:
    move = NextMove()
    assert not move.over
    assert move.to(Move.END, "end")
    assert not move.to(Move.CONVERSE, "again")
    assert (move.state, move.why) == (Move.END, "end")


def test_a_refused_move_is_traced_by_the_session() -> None:
    from interpreter.runtime.tools.runner import ToolMock
    from tests.runtime.ai.harness import run_ai_call

    flow = """\
sections:
  main:
    - ai:
        prompt: {text: Hi.}
        params: {attention_timeout: 0}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: bye
              description: End.
              parameters: {type: object, properties: {}}
"""
    rules = 'rules:\n  - when: {start: true}\n    call: {function: bye, arguments: {}}\n' \
            '  - reply: "Bye."\n'
    call, result, _, _ = run_ai_call(flow, "steps: []\n", rules, {"bye": ToolMock(
        "ok", actions=({"hangup": True}, {"stop": True}))})
    (refused,) = call.trace.of_kind("move_refused")
    assert (refused["state"], refused["wanted"]) == ("hang_up", "end")
    assert result.disposition == "hangup:ai"
