"""The call actor: in-order events, terminal ENDED, and the production races.

Every scenario runs in virtual time (exact and sleep-free) and is checked
through the call's trace.
"""

from __future__ import annotations

import asyncio

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.errors import ErrorType
from interpreter.runtime import events as ev
from interpreter.runtime.call import Call, CallResult
from interpreter.runtime.state import CallState, LegState
from tests.runtime.doubles import Destination, ScriptedChannel, ScriptedTelephony

TRANSFER_FLOW = """\
sections:
  main:
    - answer: {}
    - connect: {to: "+15550100000", timeout: 10}
    - prompt: {play: "say:Press a key", max_digits: 1, initial_timeout: 3}
    - hangup: {}
"""


def _run(source: str, channel: ScriptedChannel, telephony: ScriptedTelephony,
         before: list[tuple[float, ev.Event]] | None = None) -> tuple[Call, CallResult]:
    flow = compile_text(source, "test.yaml")

    async def main() -> tuple[Call, CallResult]:
        call = Call(flow, channel, telephony, call_id="call-1")
        for at, event in before or []:
            asyncio.get_running_loop().call_later(at, call.post, event)
        result = await call.run()
        # Nothing the call started may still be running.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == [], others
        return call, result

    return run_virtual(main)


def _kinds(call: Call, kind: str) -> list[dict[str, object]]:
    return call.trace.of_kind(kind)


def test_hangup_after_transfer_tears_down_leg_that_answers_late() -> None:
    channel = ScriptedChannel([(1.0, "hung_up", ())])
    telephony = ScriptedTelephony({"+15550100000": Destination(answer_after=3.0,
                                                               ignore_cancel=True)})
    call, result = _run(TRANSFER_FLOW, channel, telephony)
    assert result.disposition == "caller_hangup"
    assert call.state is CallState.ENDED
    (torn,) = _kinds(call, "leg_torn_down")
    assert torn["t"] == 3.0
    leg = call.legs[str(torn["leg"])]
    assert leg.state is LegState.ENDED
    # Hung up once when the call ended, again when the late answer arrived.
    assert [at for at, _ in telephony.hangups] == [1.0, 3.0]
    ended = _kinds(call, "call_ended")
    assert ended and call.trace.records[-1]["kind"] == "call_ended"
    assert call.running_effects == 0


def test_terminal_state_is_not_revived_by_late_events() -> None:
    channel = ScriptedChannel([(1.0, "hung_up", ())])
    telephony = ScriptedTelephony({"+15550100000": Destination(answer_after=2.0,
                                                               ignore_cancel=True)})
    call, _ = _run(TRANSFER_FLOW, channel, telephony)
    ended_at = next(r["n"] for r in call.trace.records
                    if r["kind"] == "state" and r["new"] == "ended")
    after = call.trace.records[int(str(ended_at)) + 1:]
    assert not [r for r in after if r["kind"] in ("verb", "state", "event")]
    assert {r["kind"] for r in after} <= {"leg_hangup", "event_after_end", "leg_torn_down",
                                          "leg_state", "effect_cancelled", "call_ended"}


def test_leg_answer_and_digit_at_the_same_instant_are_applied_in_order() -> None:
    channel = ScriptedChannel([(2.0, "digit", ("5",))])
    telephony = ScriptedTelephony({"+15550100000": Destination(answer_after=2.0,
                                                               hangup_after=1.0)})
    call, result = _run(TRANSFER_FLOW, channel, telephony)
    events = [r for r in call.trace.of_kind("event") if r["t"] == 2.0]
    assert sorted(str(r["event"]) for r in events) == ["DigitPressed", "LegAnswered"]
    # Handled in the order they were posted, each exactly once.
    assert [r["seq"] for r in events] == sorted(int(str(r["seq"])) for r in events)
    # The digit pressed while the leg was being answered is not lost: the
    # next prompt reads it.
    assert result.variables["connect_result"] == "connected"
    assert result.variables["prompt_value"] == "5"


def test_two_updates_of_one_variable_at_once_keep_inbox_order() -> None:
    source = "sections:\n  main:\n    - answer: {}\n    - sleep: 5000\n    - hangup: {}\n"
    before = [(1.0, ev.VariablesSet({"balance": 10})), (1.0, ev.VariablesSet({"balance": 25}))]
    call, result = _run(source, ScriptedChannel(), ScriptedTelephony(), before)
    updates = [r for r in call.trace.of_kind("event") if r["event"] == "VariablesSet"]
    assert [r["values"] for r in updates] == [{"balance": 10}, {"balance": 25}]
    assert result.variables["balance"] == 25


def test_lost_answered_event_is_reconciled_to_bridged() -> None:
    telephony = ScriptedTelephony({"+15550100000": Destination(
        answer_after=2.0, lose_answered_event=True, hangup_after=30.0)})
    call, result = _run(TRANSFER_FLOW, ScriptedChannel(), telephony)
    (query,) = _kinds(call, "leg_status_query")
    assert query["t"] == 11.0  # dial timeout (10 s) plus the grace second
    (reconciled,) = _kinds(call, "leg_reconciled")
    assert reconciled["status"] == "answered"
    assert result.variables["connect_result"] == "connected"
    bridged = [r for r in _kinds(call, "state") if r["new"] == "bridged"]
    assert bridged and bridged[0]["t"] == 11.1


def test_leg_that_never_reports_is_reconciled_to_failed_not_left_ringing() -> None:
    telephony = ScriptedTelephony({"+15550100000": Destination(answer_after=None)})
    call, result = _run(TRANSFER_FLOW, ScriptedChannel(), telephony)
    assert result.variables["connect_result"] == "failed"
    assert result.variables["connect_failed_reason"] == "no_answer"
    (leg,) = call.legs.values()
    assert leg.state in (LegState.FAILED, LegState.ENDED)
    states = [r["new"] for r in _kinds(call, "state")]
    assert states[:4] == ["ringing", "answered", "transferring", "answered"]


def test_busy_destination_fails_the_connect_and_the_flow_goes_on() -> None:
    telephony = ScriptedTelephony({"+15550100000": Destination(fail="busy")})
    _, result = _run(TRANSFER_FLOW, ScriptedChannel([(2.0, "digit", ("7",))]), telephony)
    assert result.variables["connect_failed_reason"] == "busy"
    assert result.variables["prompt_value"] == "7"
    assert result.disposition == "hangup:hangup"


def test_transport_loss_is_a_classified_media_error() -> None:
    channel = ScriptedChannel([(0.5, "closed", ("socket reset",))])
    source = "sections:\n  main:\n    - answer: {}\n    - sleep: -1\n"
    call, result = _run(source, channel, ScriptedTelephony())
    assert result.disposition == "transport_lost"
    (error,) = _kinds(call, "error")
    assert (error["type"], error["fatal"]) == ("media_error", True)


def test_expression_failure_is_a_spoken_state_error_and_the_flow_continues() -> None:
    source = """\
sections:
  main:
    - answer: {}
    - set: {n: "%{vars.missing.toUpperCase()}"}
    - set: {after: reached}
    - hangup: {}
"""
    channel = ScriptedChannel()
    call, result = _run(source, channel, ScriptedTelephony())
    (error,) = _kinds(call, "error")
    assert error["type"] == "state_error" and error["fatal"] is False
    assert error["line"] == 4
    assert channel.played and "went wrong" in channel.played[0][1]
    assert result.variables["after"] == "reached"


def test_stale_effect_results_are_dropped_and_traced() -> None:
    source = "sections:\n  main:\n    - answer: {}\n    - sleep: 3000\n    - hangup: {}\n"
    flow = compile_text(source, "test.yaml")

    async def main() -> Call:
        call = Call(flow, ScriptedChannel(), ScriptedTelephony())
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, call.new_epoch, "barge-in")
        loop.call_later(2.0, call.post, ev.EffectFailed(99, ErrorType.TOOL_ERROR, "late", epoch=1))
        await call.run()
        return call

    call = run_virtual(main)
    (dropped,) = call.trace.of_kind("event_dropped")
    assert (dropped["event"], dropped["epoch"], dropped["current_epoch"]) == (
        "EffectFailed", 1, 2)


def test_a_bridge_ends_at_connects_max_duration() -> None:
    source = """\
sections:
  main:
    - answer: {}
    - connect: {to: "+15550100000", timeout: 10, max_duration: 30}
    - play: {url: "say:The call is over."}
"""
    telephony = ScriptedTelephony({"+15550100000": Destination(answer_after=1.0)})
    call, result = _run(source, ScriptedChannel(), telephony)
    (ended,) = call.trace.of_kind("bridge_ended")
    assert ended["why"] == "max_duration" and 30.9 < float(ended["t"]) < 31.1
    assert [leg for _, leg in telephony.hangups] == [ended["leg"]]
    assert result.variables["connect_result"] == "connected"
