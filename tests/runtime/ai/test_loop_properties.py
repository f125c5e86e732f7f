"""Random interleavings of caller speech, barge-ins, model replies, failures and
tool calls against an ai flow: the actor's invariants hold after every run."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.providers.llm.scripted import is_summary, load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call
from interpreter.runtime.state import CallState
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

FLOW_TEXT = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You help with orders.}
        post_prompt: {text: Summarise.}
        params: {barge_functions: {BARGE}}
        SWAIG:
          functions:
            - function: lookup
              description: Look up an order.
              parameters: {type: object, properties: {id: {type: string}}}
              data_map:
                expressions:
                  - string: "${args.id}"
                    pattern: "^A"
                    output: {response: "Order ${args.id} shipped.", action: [{say: "Found it."}]}
                output: {response: "No such order."}
    - hangup: {}
"""

RULES = """\
rules:
  - when: {start: true}
    reply: "Hello there, how can I help you with your order today?"
  - when: {said: "order (?P<id>\\\\w+)"}
    call: {function: lookup, arguments: {id: "{id}"}}
  - when: {after_tool: lookup}
    reply: "{tool} Anything else I can do for you today?"
  - when: {said: "slow"}
    fail: timeout
    times: 2
  - when: {said: "broken"}
    fail: provider
  - reply: "I see. Could you tell me more about that, please, in a few words?"
"""

utterances = st.sampled_from(["order A1", "order B2", "slow", "broken", "hello", "hmm"])
steps = st.lists(st.tuples(utterances, st.one_of(st.none(), st.floats(0.1, 3.0)),
                           st.booleans()), min_size=1, max_size=5)
FLOWS = {barge: compile_text(FLOW_TEXT.replace("{BARGE}", str(barge).lower()), "property.yaml")
         for barge in (True, False)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.floats(5, 15), st.booleans(), st.integers(0, 3))
def test_ai_invariants_hold_under_random_interleavings(
        said: list[tuple[str, float | None, bool]], linger: float, barge_functions: bool,
        voice_failures: int) -> None:
    lines = [f'  - say: "{text}"' + (f"\n    barge_in: {barge}" if barge else "")
             + ("\n    garbled: true" if garbled else "") for text, barge, garbled in said]
    # Speech synthesis fails on the tool's follow-up `voice_failures` times (0: never).
    faults = (f'faults:\n  tts: [{{saying: "Anything else", times: {voice_failures}}}]\n'
              if voice_failures else "")
    script = load_caller_script(f"linger: {linger}\npatience: 20\n{faults}steps:\n" +
                                "\n".join(lines) + "\n", "property.caller.yaml")
    model = load_rules(RULES, "rules.yaml")

    async def main() -> Call:
        channel = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = Call(FLOWS[barge_functions], channel, network, ai_runner=runner(model))
        await asyncio.wait_for(call.run(), 3600)
        await channel.close()
        await network.close()
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftovers == []
        return call

    call = run_virtual(main)
    records = call.trace.records
    assert call.state is CallState.ENDED
    assert records[-1]["kind"] == "call_ended"
    assert call.running_effects == 0
    ended_at = next(int(str(r["n"])) for r in records
                    if r["kind"] == "state" and r["new"] == "ended")
    assert not [r for r in records[ended_at:] if r["kind"] in ("say", "verb", "event")]
    # What the conversation keeps after a barge-in is what was heard: a prefix
    # of what was generated, never more.
    for barge in call.trace.of_kind("barge_in"):
        heard, generated = str(barge["heard"]), str(barge["generated"])
        assert generated.startswith(heard.rstrip(" ,.!?")) or not heard
    # Events were handled in inbox order, and stale model output never spoke.
    seqs = [int(str(r["seq"])) for r in records if r["kind"] in ("event", "event_dropped")]
    assert seqs == sorted(seqs)
    # Every error is classified with a known type.
    # Every tool call the model made has its result in the history: none is
    # left "in progress", whether it completed, was cancelled or never ran.
    conversation = [r for r in model.requests if not is_summary(r)]
    if conversation:
        history = conversation[-1].messages
        answered = {m.tool_call_id for m in history if m.role == "tool"}
        assert all(c.id in answered for m in history for c in m.tool_calls)
    # A recovered error is followed by speech: the caller never sits in silence.
    for error in call.trace.of_kind("error"):
        if not error["fatal"] and error["type"] in ("tts_error", "stt_error", "llm_error"):
            later = [r for r in records[int(str(error["n"])):]
                     if r["kind"] in ("say", "play", "filler")]
            assert later or call.trace.of_kind("call_ended")[0]["t"] == error["t"]
    for error in call.trace.of_kind("error"):
        assert error["type"] in {"llm_timeout", "llm_error", "tool_error", "tool_timeout",
                                 "tool_invalid_call", "state_error", "transfer_failed",
                                 "media_error", "tts_error", "stt_error"}
