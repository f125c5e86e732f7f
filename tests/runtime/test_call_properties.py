"""Random interleavings of caller, leg and command events against an IVR with
a transfer: after every run the actor's invariants hold."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.errors import ErrorType
from interpreter.runtime import events as ev
from interpreter.runtime.call import Call
from interpreter.runtime.state import CallState, IllegalTransition, LegState, advance
from tests.runtime.doubles import Destination, ScriptedChannel, ScriptedTelephony

FLOW = compile_text("""\
sections:
  main:
    - answer: {}
    - label: menu
    - prompt: {play: "say:Press one for sales or two for support", max_digits: 1,
               initial_timeout: 2}
    - switch:
        variable: prompt_value
        case:
          "1":
            - connect: {to: "+1001", timeout: 4}
          "2":
            - connect: {parallel: [{to: "+1002"}, {to: "+1003"}], timeout: 4}
        default:
          - goto: {label: menu, max: 2}
    - play: {url: "say:Goodbye"}
    - hangup: {}
""", "property.yaml")

caller_actions = st.lists(st.tuples(
    st.floats(0, 30, allow_nan=False),
    st.sampled_from(["digit", "transcript", "speech_started", "hung_up", "closed"]),
    st.sampled_from(["1", "2", "9"])), max_size=8)
commands = st.lists(st.tuples(st.floats(0, 30, allow_nan=False), st.sampled_from(
    [ev.HangupRequested(), ev.VariablesSet({"x": 1}),
     ev.EffectFailed(7, ErrorType.TOOL_ERROR, "late", epoch=1),
     ev.LegAnswered("leg-unknown")])), max_size=4)
destinations = st.builds(
    Destination,
    answer_after=st.one_of(st.none(), st.floats(0.1, 8, allow_nan=False)),
    fail=st.one_of(st.none(), st.sampled_from(["busy", "declined"])),
    lose_answered_event=st.booleans(), ignore_cancel=st.booleans(),
    hangup_after=st.one_of(st.none(), st.floats(0.1, 10, allow_nan=False)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caller_actions, commands, st.dictionaries(
    st.sampled_from(["+1001", "+1002", "+1003"]), destinations))
def test_invariants_hold_under_random_interleavings(
        actions: list[tuple[float, str, str]], posted: list[tuple[float, ev.Event]],
        legs: dict[str, Destination]) -> None:
    script = [(at, kind, (digit,) if kind in ("digit", "transcript", "closed") else ())
              for at, kind, digit in actions]
    # Every call ends eventually: a bridged caller hangs up at some point.
    channel = ScriptedChannel([*script, (200.0, "hung_up", ())])
    telephony = ScriptedTelephony(legs)

    async def main() -> Call:
        call = Call(FLOW, channel, telephony)
        for at, event in posted:
            asyncio.get_running_loop().call_later(at, call.post, event)
        await asyncio.wait_for(call.run(), 600)
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftovers == []
        return call

    call = run_virtual(main)
    records = call.trace.records
    # Ended exactly once, and the record of it is the last word.
    assert call.state is CallState.ENDED
    assert [r["kind"] for r in records].count("call_ended") == 1
    assert records[-1]["kind"] == "call_ended"
    # Every state change was legal, and nothing changed after ENDED.
    state = CallState.NEW
    for record in call.trace.of_kind("state"):
        assert record["old"] == state.value
        try:
            state = advance(state, CallState(record["new"]))
        except IllegalTransition as error:  # pragma: no cover - the failure message
            raise AssertionError(error) from None
    ended_at = next(r["n"] for r in records if r["kind"] == "state" and r["new"] == "ended")
    assert not [r for r in records[int(str(ended_at)):] if r["kind"] in ("verb", "event")]
    # Events were handled in inbox order.
    seqs = [int(str(r["seq"])) for r in records if r["kind"] in ("event", "event_dropped",
                                                                  "event_after_end")]
    assert seqs == sorted(seqs)
    # No leg is left up, no effect left running.
    assert all(leg.state in (LegState.FAILED, LegState.ENDED) or call.trace.of_kind(
        "leg_abandoned") for leg in call.legs.values())
    assert call.running_effects == 0
