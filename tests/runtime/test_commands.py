"""Operator commands on the live call (runtime/commands.py and the ai loop's
safe point): say, transfer, unhold, injected events and commands the call
never reaches. Each call runs in virtual time with the simulated caller and
network; commands are posted to the inbox at fixed times, as the REST
handlers post them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime import events as ev
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call, CallResult
from interpreter.runtime.tools.runner import MockRunner, ToolMock
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

AGENT = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You help callers.}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}  # mocked: never called
          functions:
            - function: wait_a_bit
              description: Put the caller on hold.
              parameters: {type: object, properties: {}}
    - play: {url: "say:The agent has left."}
    - hangup: {}
  desk:
    - play: {url: "say:This is the front desk."}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hello, this is a long greeting that takes the agent a good few seconds to say."
  - when: {said: "hold"}
    call: {function: wait_a_bit}
  - when: {after_tool: wait_a_bit}
    reply: "Please hold."
  - when: {prompted: "hold is over"}
    reply: "Thanks for holding."
  - when: {said: "what did you say"}
    reply: "I said what you heard."
  - reply: "Okay."
"""
SLEEPER = """\
sections:
  main:
    - answer: {}
    - sleep: 5000
    - play: {url: "say:Done sleeping."}
    - hangup: {}
  desk:
    - play: {url: "say:This is the front desk."}
    - hangup: {}
"""
BY = "rest:tok_test"


def _run(flow: str, caller: str, posts: list[tuple[float, ev.Event]],
         rules: str = RULES, hold: float = 60.0) -> tuple[
        Call, CallResult, SimulatedCaller, ScriptedProvider]:
    compiled = compile_text(flow, "flow.yaml")
    script = load_caller_script(caller, "caller.yaml")
    model = load_rules(rules, "rules.yaml")
    mocks = {"wait_a_bit": ToolMock("on hold", ({"hold": {"timeout": hold}},))}

    async def main() -> tuple[Call, CallResult, SimulatedCaller]:
        channel = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = Call(compiled, channel, network,
                    ai_runner=runner(model, tools=MockRunner(mocks)))
        loop = asyncio.get_running_loop()
        for at, event in posts:
            loop.call_later(at, call.post, event)
        result = await call.run()
        await channel.close()
        await network.close()
        return call, result, channel

    call, result, channel = run_virtual(main)
    return call, result, channel, model


def _said(channel: SimulatedCaller) -> list[str]:
    return [line.text for line in channel.heard if line.kind == "say"]


def _kinds(call: Call, kind: str) -> list[Mapping[str, object]]:
    return call.trace.of_kind(kind)


# ------------------------------------------------------------ say

def test_say_mid_reply_waits_for_the_reply_and_stays_in_the_conversation() -> None:
    call, _, channel, model = _run(AGENT, """\
steps:
  - say: "what did you say"
    after_hearing: "Note the time."
  - hangup: {after: 3}
""", [(1.0, ev.SayRequested("Note the time.", by=BY))])
    (received,) = _kinds(call, "command_received")
    assert received["command"] == "say" and received["by"] == BY
    (kept,) = [r for r in _kinds(call, "event_kept") if r["event"] == "SayRequested"]
    assert "safe point" in str(kept["why"])
    greeting = next(line for line in channel.heard if line.text.startswith("Hello"))
    note = next(line for line in channel.heard if line.text == "Note the time.")
    # Queued after the reply in progress, never over it.
    assert not greeting.cut_off and note.start >= greeting.end
    # The model is told it was said, as the agent's words the caller heard.
    asked = next(r for r in model.requests if r.messages[-1].content == "what did you say")
    assert [m.content for m in asked.messages if m.role == "assistant"][-1] == "Note the time."


def test_the_caller_may_barge_into_a_say_and_the_model_sees_only_what_was_heard() -> None:
    text = "Your parcel left the warehouse this morning and should reach you on Friday."
    call, _, channel, model = _run(AGENT, """\
steps:
  - say: "thanks"
    barge_in: 1.2
    after_hearing: "Hello, this is a long greeting that takes the agent a good few seconds"
  - hangup: {after: 3}
""", [(1.0, ev.SayRequested(text, by=BY))])
    said = next(line for line in channel.heard if line.text == text)
    assert said.cut_off
    (barge,) = _kinds(call, "barge_in")
    heard = str(barge["heard"])
    assert heard and text.startswith(heard) and heard != text
    asked = next(r for r in model.requests if r.messages[-1].content == "thanks")
    assert [m.content for m in asked.messages if m.role == "assistant"][-1] == heard


def test_say_outside_an_ai_session_is_played_after_the_verb_in_progress() -> None:
    _, result, channel, _ = _run(SLEEPER, "linger: 30\n",
                                    [(1.0, ev.SayRequested("Hello from the desk.", by=BY))])
    assert _said(channel) == ["Hello from the desk.", "Done sleeping."]
    said = next(line for line in channel.heard if line.text == "Hello from the desk.")
    assert said.start >= 5.0  # the sleep finished first
    assert result.disposition == "hangup:hangup"


def test_say_to_a_call_not_answered_yet_is_refused_not_answered_for() -> None:
    flow = """\
sections:
  main:
    - sleep: 2000
    - answer: {}
    - play: {url: "say:Welcome."}
    - hangup: {}
"""
    call, _, channel, _ = _run(flow, "linger: 30\n", [(1.0, ev.SayRequested("Hi.", by=BY))])
    (refused,) = _kinds(call, "command_refused")
    assert refused["command"] == "say" and "not answered" in str(refused["why"])
    assert _said(channel) == ["Welcome."]


# ------------------------------------------------------------ transfer

def test_transfer_to_a_section_ends_the_ai_session_and_goes_there() -> None:
    call, result, channel, _ = _run(AGENT, "linger: 60\n",
                                    [(1.0, ev.TransferRequested("desk", by=BY))])
    (ended,) = _kinds(call, "ai_ended")
    assert ended["reason"] == "transfer"
    assert _kinds(call, "transferred")[-1]["to"] == "desk"
    assert _said(channel)[-1] == "This is the front desk."
    assert "The agent has left." not in _said(channel)
    assert result.disposition == "hangup:hangup"


def test_transfer_to_a_number_dials_it_and_the_call_ends_with_the_bridge() -> None:
    call, result, _, _ = _run(AGENT, """\
destinations:
  "+15550102000": {hangup_after: 2}
linger: 60
""", [(1.0, ev.TransferRequested("+15550102000", by=BY))])
    (dialled,) = _kinds(call, "leg_dial")
    assert dialled["destination"] == "+15550102000"
    assert call.vars["connect_result"] == "connected"
    assert _kinds(call, "bridge_ended")
    assert result.disposition == "completed"


def test_a_transfer_that_fails_is_traced_and_the_script_goes_on() -> None:
    call, result, channel, _ = _run(SLEEPER, """\
destinations:
  "sip:desk@example.com": {outcome: busy}
linger: 60
""", [(1.0, ev.TransferRequested("sip:desk@example.com", by=BY))])
    (failed,) = _kinds(call, "connect_failed")
    assert failed["reason"] == "busy"
    error = next(r for r in _kinds(call, "error") if r["type"] == "transfer_failed")
    assert "sip:desk@example.com: busy" in str(error["message"])
    assert _said(channel) == [str(error["phrase"]), "Done sleeping."]
    assert result.disposition == "hangup:hangup"


# ------------------------------------------------------------ unhold

HOLDING = """\
steps:
  - say: "hold please"
  - hangup: {after: 20}
"""


def test_unhold_ends_the_hold_before_its_timeout_and_the_agent_comes_back() -> None:
    call, _, channel, _ = _run(AGENT, HOLDING, [(12.0, ev.UnholdRequested(by=BY))])
    (hold,) = _kinds(call, "hold")
    (unhold,) = _kinds(call, "unhold")
    assert unhold["why"] == "unhold command"
    assert float(unhold["t"]) - float(hold["t"]) < 10.0  # not the 60 s timeout
    assert call.hold_until is None
    (music,) = channel.background
    assert music.cut_off
    assert "Thanks for holding." in _said(channel)


def test_unhold_when_not_on_hold_is_refused_and_traced() -> None:
    call, _, _, _ = _run(AGENT, "linger: 8\n", [(1.0, ev.UnholdRequested(by=BY))])
    (refused,) = _kinds(call, "command_refused")
    assert refused["command"] == "unhold" and refused["why"] == "the call is not on hold"


def test_the_call_is_on_hold_only_while_the_hold_lasts() -> None:
    seen: list[float | None] = []
    compiled = compile_text(AGENT, "flow.yaml")
    script = load_caller_script(HOLDING, "caller.yaml")
    model = load_rules(RULES, "rules.yaml")
    mocks = {"wait_a_bit": ToolMock("on hold", ({"hold": {"timeout": 5}},))}

    async def main() -> None:
        channel = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = Call(compiled, channel, network,
                    ai_runner=runner(model, tools=MockRunner(mocks)))
        loop = asyncio.get_running_loop()
        for at in (1.0, 11.0, 20.0):  # the hold lasts from about 9 s to 14 s
            loop.call_later(at, lambda: seen.append(call.hold_until))
        await call.run()
        await channel.close()
        await network.close()

    run_virtual(main)
    assert seen[0] is None and seen[1] is not None and seen[2] is None


# ------------------------------------------------------------ inject and the end

def test_an_injected_event_is_marked_and_handled_like_the_real_one() -> None:
    call, _, _, _ = _run(SLEEPER, "linger: 30\n", [
        (1.0, ev.EventInjected("digits", by=BY)), (1.0, ev.DigitPressed("5"))])
    (received,) = _kinds(call, "command_received")
    assert received["command"] == "inject" and received["name"] == "digits"
    events = [r["event"] for r in _kinds(call, "event")]
    assert events[events.index("EventInjected") + 1] == "DigitPressed"
    assert call.pending_digits == ["5"]  # kept for the next prompt, as typed-ahead digits


def test_commands_the_call_never_reaches_are_dropped_and_nothing_revives_it() -> None:
    call, result, channel, _ = _run(SLEEPER, """\
steps:
  - hangup: {}
    at: 2
""", [(1.0, ev.SayRequested("Too late.", by=BY)),
      (1.5, ev.TransferRequested("desk", by=BY))])
    dropped = _kinds(call, "command_dropped")
    assert [r["command"] for r in dropped] == ["say", "transfer"]
    assert result.disposition == "caller_hangup"
    assert "Too late." not in _said(channel) and not _kinds(call, "transferred")
