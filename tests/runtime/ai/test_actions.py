"""SWAIG reply actions applied on the live call (SignalWire's SWAIG function
results), with a mocked tool."""

from __future__ import annotations

from collections.abc import Mapping

from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import LlmRequest
from interpreter.providers.llm.scripted import ScriptedProvider
from interpreter.runtime.call import Call
from interpreter.runtime.tools.runner import ToolMock
from interpreter.transports.simulated import SimulatedCaller
from tests.runtime.ai.harness import run_ai_call, spoken

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You help callers.
          temperature: 0.5
        params:
          hold_music: "https://music.example/hold.mp3"
        hints:
          - {hint: order, pattern: '\\b([a-z])\\s+(\\d+)\\b', replace: '$1$2', ignore_case: true}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}  # mocked: never called
          functions:
            - function: act
              description: Do the thing.
              parameters: {type: object, properties: {}}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {said: "please"}
    call: {function: act}
  - when: {after_tool: act}
    reply: "Done with that."
  - when: {prompted: "hold is over"}
    reply: "Thanks for holding."
  - reply: "Okay."
"""


def _run(caller: str, *actions: Mapping[str, JSONValue], response: str = "ok",
         delay: float = 0.0, flow: str = FLOW, rules: str = RULES) -> tuple[
        Call, SimulatedCaller, ScriptedProvider]:
    mock = ToolMock(response, tuple(actions), delay)
    call, _, channel, model = run_ai_call(flow, caller, rules, {"act": mock})
    return call, channel, model


def _after_tool(model: ScriptedProvider) -> LlmRequest:
    """The first request that carried a tool result."""
    return next(r for r in model.requests if r.messages[-1].role == "tool")


def test_hold_plays_hold_music_ignores_the_caller_and_the_agent_comes_back() -> None:
    call, channel, _ = _run("""\
steps:
  - say: "hold please"
  - say: "hello, anyone there?"
    at: 10
  - hangup: {after: 30}
""", {"hold": {"timeout": 20}})
    (hold,) = call.trace.of_kind("hold")
    assert hold["seconds"] == 20.0
    (ignored,) = call.trace.of_kind("ignored_on_hold")
    assert ignored["text"] == "hello, anyone there?"
    (music,) = channel.background
    assert music.text == "https://music.example/hold.mp3" and music.cut_off
    assert 19.9 <= music.end - music.start <= 20.1
    back = next(line for line in channel.heard if line.text == "Thanks for holding.")
    assert back.start >= music.end
    # "Done with that." was heard before the hold started.
    done = next(line for line in channel.heard if line.text == "Done with that.")
    assert done.end <= music.start


def test_playback_bg_with_wait_holds_the_reply_until_the_file_has_played() -> None:
    _, channel, _ = _run('steps:\n  - say: "play it please"\n  - hangup: {after: 10}\n',
                            {"playback_bg": {"file": "https://x.example/jingle.mp3",
                                             "wait": True}})
    (track,) = channel.background
    assert not track.cut_off
    done = next(line for line in channel.heard if line.text == "Done with that.")
    assert done.start >= track.end


def test_playback_bg_without_wait_loops_under_the_conversation() -> None:
    _, channel, _ = _run('steps:\n  - say: "music please"\n  - say: "lovely"\n'
                         '  - hangup: {after: 12}\n', {"playback_bg": "https://x.example/rain.mp3"})
    (track,) = channel.background
    assert track.text == "https://x.example/rain.mp3"
    # Far longer than one play of the file, and the agent spoke over it.
    assert track.end - track.start > 10
    assert any(track.start < line.start < track.end for line in channel.heard)


def test_stop_playback_bg_stops_the_background() -> None:
    call, channel, _ = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n',
                            {"playback_bg": "https://x.example/rain.mp3"},
                            {"stop_playback_bg": True})
    (track,) = channel.background
    assert track.cut_off and track.end - track.start < 0.01
    assert [r["kind"] for r in call.trace.of_kind("background_started", "background_stopped")
            ] == ["background_started", "background_stopped"]


def test_context_switch_changes_the_prompt_consolidates_and_speaks_for_the_caller() -> None:
    _, _, model = _run('steps:\n  - say: "please switch"\n  - hangup: {after: 5}\n',
                       {"context_switch": {"system_prompt": "You are now the billing desk.",
                                           "consolidate": True,
                                           "user_prompt": "I have a billing question"}})
    after = model.requests[-1]
    system = after.messages[0].content
    assert "You help callers." in system and "You are now the billing desk." in system
    notes = [m.content for m in after.messages[1:] if m.role == "system"]
    assert any(n.startswith("The conversation so far: assistant: Okay. | user: please switch")
               for n in notes)
    assert any(m.role == "user" and m.content == "I have a billing question"
               for m in after.messages)
    # The tool's call left the history, so its result is a note, never an orphan.
    assert not any(m.role == "tool" for m in after.messages)


def test_context_switch_full_reset_replaces_the_prompt() -> None:
    _, _, model = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n',
                       {"context_switch": {"system_prompt": "Only billing.",
                                           "full_reset": True}})
    assert model.requests[-1].messages[0].content == "Only billing."


def test_settings_tune_the_next_requests_unless_the_flow_forbids_it() -> None:
    settings = {"settings": {"temperature": 0.2, "max-tokens": 50, "top-p": 0.9}}
    _, _, model = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n', settings)
    first, last = model.requests[0], model.requests[-1]
    assert (first.temperature, last.temperature) == (0.5, 0.2)
    assert (last.max_tokens, last.top_p) == (50, 0.9)
    locked = FLOW.replace("params:", "params:\n          swaig_allow_settings: false")
    call, _, model = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n', settings,
                          flow=locked)
    assert model.requests[-1].temperature == 0.5
    assert call.trace.of_kind("action_refused")


def test_wait_for_user_defers_the_reply_until_the_caller_speaks() -> None:
    call, channel, model = _run("""\
steps:
  - say: "please"
  - wait: 4
  - say: "are you done?"
    after: 0
  - hangup: {after: 5}
""", {"wait_for_user": True})
    assert call.trace.of_kind("reply_deferred")
    assert "Done with that." not in spoken(channel)
    assert model.requests[-1].messages[-1].content == "are you done?"
    assert spoken(channel)[-1] == "Okay."


def test_replace_in_history_swaps_the_tool_exchange_once_the_model_has_seen_it() -> None:
    _, _, model = _run('steps:\n  - say: "please"\n  - say: "thanks"\n'
                       '  - hangup: {after: 5}\n',
                       {"replace_in_history": "I checked the account."},
                       response="balance 42.17 with 3 pending charges")
    seen = _after_tool(model).messages
    assert any(m.role == "tool" and "42.17" in m.content for m in seen)
    later = model.requests[-1].messages
    assert not any(m.role == "tool" or m.tool_calls for m in later)
    assert any(m.role == "assistant" and m.content == "I checked the account."
               for m in later)


def test_extensive_data_is_sent_whole_once_then_shortened() -> None:
    long = "record " * 100
    _, _, model = _run('steps:\n  - say: "please"\n  - say: "thanks"\n'
                       '  - hangup: {after: 5}\n', {"extensive_data": True}, response=long)
    (first,) = [m for m in _after_tool(model).messages if m.role == "tool"]
    (later,) = [m for m in model.requests[-1].messages if m.role == "tool"]
    assert first.content == long
    assert len(later.content) < 250 and later.content.endswith("(the full result was given once)")


def test_dynamic_hints_rewrite_what_the_model_reads() -> None:
    _, _, model = _run('steps:\n  - say: "please add"\n  - say: "order b 42 and form 7"\n'
                       '  - hangup: {after: 5}\n',
                       {"add_dynamic_hints": [{"hint": "form", "pattern": "form (\\d+)",
                                               "replace": "form-$1"}]})
    # The document's hint joins "b 42"; the dynamic one rewrites "form 7".
    assert model.requests[-1].messages[-1].content == "order b42 and form-7"


def test_unknown_action_is_traced_not_dropped() -> None:
    call, _, _ = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n',
                      {"teleport": True})
    (unknown,) = call.trace.of_kind("action_unknown")
    assert unknown["action"] == "teleport"


def test_a_transfer_to_nowhere_is_a_spoken_transfer_failed_and_the_call_goes_on() -> None:
    call, channel, _ = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n',
                            {"transfer": {"dest": "nowhere"}})
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["fatal"]) == ("transfer_failed", False)
    lines = spoken(channel)
    assert "I'm sorry, I couldn't connect your call." in lines
    assert lines[-1] == "Done with that."


def test_a_known_action_with_an_unusable_value_is_traced_as_ignored() -> None:
    call, _, _ = _run('steps:\n  - say: "please"\n  - hangup: {after: 5}\n',
                      {"set_global_data": "not a map"})
    (ignored,) = call.trace.of_kind("action_ignored")
    assert (ignored["action"], ignored["value"]) == ("set_global_data", "not a map")
    assert not call.trace.of_kind("action_unknown")
