"""The verb executor: sections, jumps, subroutines, variables, legs with confirm."""

from __future__ import annotations

import io
import json
from pathlib import Path

from interpreter import ir
from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.host import CallHost
from interpreter.runtime.call import Call, CallResult
from interpreter.transports.caller_script import CallerScript, load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork
from tests.runtime.doubles import ScriptedChannel, ScriptedTelephony


def _run(source: str, channel: ScriptedChannel | None = None,
         base: Path | None = None) -> tuple[Call, CallResult]:
    flow = compile_text(source, "executor.yaml")

    async def main() -> tuple[Call, CallResult]:
        info = {"from": "+15551230000", "type": "sip"}
        call = Call(flow, channel or ScriptedChannel(), ScriptedTelephony(), call_info=info,
                    envs={"region": "eu"},
                    flow_loader=CallHost(warnings=io.StringIO()).flow_loader(base, info))
        return call, await call.run()

    return run_virtual(main)


def test_execute_returns_a_value_runs_on_return_and_the_matching_result() -> None:
    _, result = _run("""\
sections:
  main:
    - execute:
        dest: lookup
        params: {id: "%{call.from}"}
        on_return:
          - set: {after_return: "%{return_value}"}
        result:
          variable: return_value
          case:
            found:
              - set: {branch: found}
          default:
            - set: {branch: other}
    - hangup: {}
  lookup:
    - set: {seen_param: "%{params.id}"}
    - return: found
    - set: {never: true}
""")
    assert result.variables["seen_param"] == "+15551230000"
    assert result.variables["return_value"] == "found"
    assert result.variables["after_return"] == "found"
    assert result.variables["branch"] == "found"
    assert "never" not in result.variables


def test_goto_jumps_at_most_max_times_then_falls_through() -> None:
    call, result = _run("""\
sections:
  main:
    - set: {n: 0}
    - label: again
    - set: {n: "%{vars.n + 1}"}
    - goto: {label: again, max: 3}
    - goto: {label: again, when: "vars.n < 6"}
    - hangup: {}
""")
    # Three jumps from the first goto (n = 4), then the conditional one until n = 6.
    assert result.variables["n"] == 6
    assert len(call.trace.of_kind("goto_exhausted")) == 3


def test_cond_else_and_switch_default_and_unset() -> None:
    _, result = _run("""\
sections:
  main:
    - set: {kind: "%{call.type.toLowerCase()}", temp: 1}
    - cond:
        - when: "kind == 'phone'"
          then:
            - set: {route: pstn}
        - else:
            - set: {route: other}
    - switch:
        variable: envs.region
        case:
          us:
            - set: {dc: virginia}
        default:
          - set: {dc: frankfurt}
    - unset: temp
    - hangup: {}
""")
    assert result.variables["route"] == "other"
    assert result.variables["dc"] == "frankfurt"
    assert "temp" not in result.variables


def test_switch_without_match_or_default_is_a_spoken_state_error() -> None:
    channel = ScriptedChannel()
    call, result = _run("""\
sections:
  main:
    - set: {x: nope}
    - switch: {variable: x, case: {"1": [{hangup: {}}]}}
    - set: {continued: true}
""", channel)
    (error,) = call.trace.of_kind("error")
    assert error["type"] == "state_error" and "no case" in str(error["message"])
    assert result.variables["continued"] is True
    assert result.disposition == "completed"


def test_transfer_replaces_the_stack_and_keeps_vars() -> None:
    call, result = _run("""\
sections:
  main:
    - set: {from_main: yes}
    - transfer: {dest: second, params: {p: 1}}
    - set: {never: true}
  second:
    - set: {got: "%{params.p}", kept: "%{vars.from_main}"}
""")
    assert result.variables["got"] == 1 and result.variables["kept"] == "yes"
    assert "never" not in result.variables
    assert [r["to"] for r in call.trace.of_kind("transferred")] == ["second"]


def test_transfer_to_another_flow_and_to_inline_swml(tmp_path: Path) -> None:
    inline = json.dumps({"sections": {"main": [{"set": {"in_inline": True}}]}})
    (tmp_path / "other.yaml").write_text(
        "sections:\n  main:\n    - set: {in_other: true}\n"
        "    - transfer: {dest: '%{vars.inline}'}\n")
    call, result = _run(f"""\
sections:
  main:
    - set: {{inline: {json.dumps(inline)}}}
    - transfer: {{dest: other.yaml}}
""", base=tmp_path)
    assert result.variables["in_other"] is True
    assert result.variables["in_inline"] is True
    assert len(call.trace.of_kind("flow_loaded")) == 2


def test_transfer_to_an_unknown_destination_is_transfer_failed() -> None:
    call, result = _run("""\
sections:
  main:
    - transfer: {dest: "https://example.invalid/next"}
    - set: {recovered: true}
""")
    (error,) = call.trace.of_kind("error")
    assert error["type"] == "transfer_failed"
    assert result.variables["recovered"] is True


def test_prompt_collects_digits_until_terminator_and_reports_no_input() -> None:
    channel = ScriptedChannel([(0.5, "digit", ("4",)), (0.7, "digit", ("2",)),
                               (0.9, "digit", ("#",))])
    _, result = _run("""\
sections:
  main:
    - prompt: {play: "say:Enter your PIN then hash", max_digits: 6, terminators: "#"}
    - set: {pin: "%{prompt_value}", how: "%{prompt_result}", term: "%{prompt_digit_terminator}"}
    - prompt: {play: "say:Anything else", initial_timeout: 2}
""", channel)
    assert (result.variables["pin"], result.variables["how"], result.variables["term"]) == (
        "42", "match_digits", "#")
    assert result.variables["prompt_result"] == "no_input"


WARM = """\
sections:
  main:
    - answer: {}
    - set: {brief: "Caller needs help with order A123"}
    - connect:
        serial: [{to: "+15550100001"}, {to: "+15550100002"}]
        timeout: 20
        confirm: whisper
    - set: {outcome: "%{connect_result}"}
    - hangup: {}
  whisper:
    - prompt:
        play: "say:%{vars.brief}. Press 1 to accept."
        max_digits: 1
        initial_timeout: 5
    - cond:
        - when: "prompt_value != '1'"
          then:
            - hangup: {}
"""


def test_confirm_runs_on_the_called_party_and_declines_fail_over() -> None:
    script = load_caller_script("""\
steps:
  - wait: 60
destinations:
  "+15550100001": {answer_after: 2, press: "2"}
  "+15550100002": {answer_after: 1, press: "1", hangup_after: 15}
""", "warm.caller.yaml")
    flow = compile_text(WARM, "warm.yaml")

    async def main() -> tuple[Call, CallResult, SimulatedNetwork, SimulatedCaller]:
        caller = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = Call(flow, caller, network)
        result = await call.run()
        await caller.close()
        await network.close()
        return call, result, network, caller

    call, result, network, caller = run_virtual(main)
    assert result.variables["outcome"] == "connected"
    # The caller heard the media runtime's ringing through both dials and the
    # confirm sections, up to the bridge: never silence.
    (ringing,) = caller.background
    bridged = next(r for r in call.trace.of_kind("state") if r["new"] == "bridged")
    assert ringing.text == "builtin:ringback" and ringing.cut_off
    assert ringing.start < 0.1 and abs(ringing.end - float(bridged["t"])) < 0.01
    assert [r["leg"] for r in call.trace.of_kind("confirm_declined")] == ["leg-1"] or len(
        call.trace.of_kind("confirm_declined")) == 1
    assert len(call.trace.of_kind("confirm_accepted")) == 1
    heard = [line.text for leg in network.legs.values() for line in leg.channel.heard]
    assert any("order A123" in text for text in heard)
    assert [r["new"] for r in call.trace.of_kind("state")].count("bridged") == 1


def test_example_ivr_and_its_caller_script_end_normally() -> None:
    root = Path(__file__).resolve().parents[2]
    flow = compile_text((root / "flows" / "ivr.yaml").read_text(), "ivr.yaml")
    script = load_caller_script((root / "flows" / "ivr.caller.yaml").read_text(),
                                "ivr.caller.yaml")

    async def main() -> CallResult:
        caller = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        result = await Call(flow, caller, network).run()
        await caller.close()
        await network.close()
        return result

    result = run_virtual(main)
    assert result.disposition == "hangup:hangup"
    assert result.variables["record_result"] == "success"


def _run_scripted(flow: ir.CompiledFlow, script: CallerScript) -> tuple[Call, SimulatedCaller]:
    """The flow against a caller script (its faults included), in virtual time."""

    async def main() -> tuple[Call, SimulatedCaller]:
        channel = SimulatedCaller(script)
        call = Call(flow, channel, SimulatedNetwork.for_script(script))
        await call.run()
        await channel.close()
        return call, channel

    return run_virtual(main)


def test_a_failing_voice_is_retried_in_the_fallback_voice_and_a_missing_file_skipped() -> None:
    flow = compile_text("""\
sections:
  main:
    - play: {urls: ["say:Welcome to Parkside.", "https://x.example/gone.wav"]}
    - play: {url: "say:Welcome back."}
""", "voices.yaml")
    script = load_caller_script("""\
faults:
  tts: [{saying: "Welcome to Parkside"}]
  files: ["https://x.example/gone.wav"]
steps: []
""")
    call, channel = _run_scripted(flow, script)
    assert [(e["type"], e["next"]) for e in call.trace.of_kind("error")] == [
        ("tts_error", "the rest in the fallback voice"), ("media_error", "skipped")]
    assert [line.text for line in channel.heard] == ["Welcome to Parkside.", "Welcome back."]
    # The call keeps the fallback voice once its voice has failed.
    plays = [r for r in call.trace.of_kind("play")]
    assert len(plays) == 3


def test_after_a_voice_fails_only_what_was_not_heard_is_played_again() -> None:
    flow = compile_text("""\
sections:
  main:
    - play: {urls: ["say:Hello there.", "say:Your table is ready.", "say:Goodbye."]}
""", "rest.yaml")
    script = load_caller_script("""\
faults:
  tts: [{saying: "Your table is ready"}]
steps: []
""")
    call, channel = _run_scripted(flow, script)
    assert [line.text for line in channel.heard] == [
        "Hello there.", "Your table is ready.", "Goodbye."]
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["item"]) == ("tts_error", 1)


def test_retries_count_consecutive_failures_and_a_phrase_answers_the_call_first() -> None:
    # Two switch faults (state_error allows one retry) with a verb that works
    # between them: each is the first of its run, so the call goes on.
    flow = compile_text("""\
sections:
  main:
    - switch: {variable: vars.nothing, case: {a: [{set: {x: 1}}]}}
    - set: {y: 2}
    - switch: {variable: vars.nothing, case: {a: [{set: {x: 1}}]}}
    - play: {url: "say:Still here."}
""", "retries.yaml")
    call, channel = _run_scripted(flow, load_caller_script("steps: []\n"))
    errors = call.trace.of_kind("error")
    assert [(e["type"], e["attempt"], e["fatal"]) for e in errors] == [
        ("state_error", 1, False), ("state_error", 1, False)]
    assert "Still here." in [line.text for line in channel.heard]
    # The recovery phrase was spoken to an answered call, not into the ringing.
    assert channel.answered_at == 0.0
    twice = compile_text("""\
sections:
  main:
    - switch: {variable: vars.nothing, case: {a: [{set: {x: 1}}]}}
    - switch: {variable: vars.nothing, case: {a: [{set: {x: 1}}]}}
    - play: {url: "say:Still here."}
""", "twice.yaml")
    call, channel = _run_scripted(twice, load_caller_script("steps: []\n"))
    assert [(e["attempt"], e["fatal"]) for e in call.trace.of_kind("error")] == [
        (1, False), (2, True)]
    assert "Still here." not in [line.text for line in channel.heard]


def test_a_confirm_section_that_accepts_with_return_bridges_the_caller() -> None:
    script = load_caller_script("""\
steps:
  - wait: 30
destinations:
  "+15550100001": {answer_after: 1, press: "1", hangup_after: 5}
""", "return.caller.yaml")
    flow = compile_text(WARM.replace('''    - cond:
        - when: "prompt_value != '1'"
          then:
            - hangup: {}''', '''    - cond:
        - when: "prompt_value == '1'"
          then:
            - return: accepted
    - hangup: {}'''), "return.yaml")

    async def main() -> CallResult:
        caller = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        result = await Call(flow, caller, network).run()
        await caller.close()
        await network.close()
        return result

    result = run_virtual(main)
    assert result.variables["outcome"] == "connected"
    assert result.disposition == "hangup:hangup"


def test_a_huge_duration_from_a_variable_waits_at_most_a_day() -> None:
    flow = compile_text("""\
sections:
  main:
    - set: {long: 1e300}
    - sleep: "%{vars.long}"
    - play: {url: "say:Still here."}
""", "long.yaml")
    script = load_caller_script("steps:\n  - wait: 86400\n  - wait: 10\n")
    _, channel = _run_scripted(flow, script)
    (played,) = [line for line in channel.heard if line.text == "Still here."]
    assert played.start == 86_400.0


def test_send_digits_refuses_what_is_not_dtmf() -> None:
    channel = ScriptedChannel()
    call, result = _run("""\
sections:
  main:
    - set: {ext: "12x"}
    - send_digits: {digits: "${ext}"}
    - set: {first: "${send_digits_result}"}
    - send_digits: {digits: "1w2#"}
""", channel)
    assert result.variables["first"] == "failed"
    assert result.variables["send_digits_result"] == "success"
    (refused,) = call.trace.of_kind("digits_refused")
    assert refused["digits"] == "12x" and "'x'" in str(refused["why"])
    assert [r["digits"] for r in call.trace.of_kind("digits_sent")] == ["1w2#"]
    assert channel.digits_sent == "1w2#"


def test_a_background_recording_ends_on_its_terminator_whatever_the_call_does() -> None:
    flow = compile_text("""\
sections:
  main:
    - answer: {}
    - record_call: {control_id: rc, terminators: "#"}
    - record_call: {control_id: other}
    - sleep: 5000
    - hangup: {}
""", "rc.yaml")
    script = load_caller_script("steps:\n  - press: '#'\n    at: 1\n", "rc.caller.yaml")
    call, channel = _run_scripted(flow, script)
    (stopped,) = call.trace.of_kind("record_stopped")
    assert stopped["control_id"] == "rc" and stopped["why"] == "terminator #"
    assert float(str(stopped["t"])) < 2
    assert channel.recordings == ("other",)  # the one without terminators runs on
