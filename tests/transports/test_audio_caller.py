"""`callkernel run --audio`: the caller script played as audio through the
real audio runtime — eSpeak NG speaks both sides, webrtcvad, endpointing and
pocketsphinx hear the caller — and the call recorded to a stereo WAV."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile
from aiohttp import web

from interpreter.clock import run_virtual
from interpreter.commands import demo as demo_command
from interpreter.commands import run as run_command
from interpreter.host import CallHost
from interpreter.providers.llm.scripted import load_rules
from interpreter.server.demo_webhook import build_app
from interpreter.transports.audio_caller import AudioCaller
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.hearing_check import comparable, total

ROOT = Path(__file__).resolve().parents[2]
IVR = str(ROOT / "flows" / "ivr.yaml")
IVR_CALLER = str(ROOT / "flows" / "ivr.caller.yaml")


def _run(*args: str, **options: object) -> tuple[int, list[tuple[float, str]], str]:
    """Exit code, the conversation's lines as (time, "who text"), stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = run_command.run(*args, out=out, err=err, **options)  # type: ignore[arg-type]
    lines = [(float(line.split()[0]), " ".join(line.split()[1:]))
             for line in out.getvalue().splitlines() if line[:8].strip()[:1].isdigit()]
    return code, lines, err.getvalue()


def test_the_ivr_runs_in_audio_digits_and_speech_alike(tmp_path: Path) -> None:
    wav = tmp_path / "ivr.wav"
    trace = tmp_path / "ivr.jsonl"
    code, timed, _ = _run(IVR, IVR_CALLER, audio=True, record=str(wav), trace_path=str(trace))
    lines = [text for _, text in timed]
    assert code == 0
    # The digit cut the menu off; only the menu's own words count as heard.
    cut = next(line for line in lines if "cut off" in line)
    assert cut.endswith('(cut off; heard: "For sales,")')
    assert "call prompt: match_digits 3" in lines
    # The caller's spoken words, heard by the recognizer, chose the operator.
    assert "call prompt: match_speech the operator please" in lines
    assert "call connect failed: busy" in lines
    # Ringback played under the dial as background audio, stopped when it failed.
    assert any(line.startswith("sound [ringback until") and line.endswith(", stopped]")
               for line in lines)
    assert lines[-1] == "call ended: hangup:hangup"
    audio, rate = soundfile.read(str(wav), dtype="int16")
    assert rate == 16_000 and audio.shape[1] == 2
    assert abs(len(audio) / rate - timed[-1][0]) < 0.1  # the whole call, to its end
    caller, agent = (np.abs(audio[:, channel].astype(np.int32)) for channel in (0, 1))
    assert caller.max() > 1000 and agent.max() > 1000
    # Nobody talks over the other at the start: the greeting is the agent's alone.
    assert caller[:rate * 3].max() == 0 and agent[:rate * 3].max() > 1000
    # The voicemail is a real recording of the caller's message.
    recorded = next(json.loads(line) for line in trace.read_text().splitlines()
                    if '"kind": "recorded"' in line)
    assert recorded["result"] == "success" and "sam lee" in recorded["text"]
    message, _ = soundfile.read(recorded["url"].removeprefix("file://"), dtype="int16")
    assert 5 * rate < len(message) < 15 * rate and np.abs(message).max() > 1000


def test_the_demo_in_audio_recognizes_the_order_and_keeps_what_was_heard() -> None:
    out = io.StringIO()
    code = demo_command.run(out=out, err=io.StringIO(), port=0, audio=True)
    lines = [" ".join(line.split()[1:]) for line in out.getvalue().splitlines()]
    assert code == 0
    # The spoken order IDs, recognized and written as digits, reached the tool.
    assert 'call calling check_order({"order_id": "a123"})' in lines
    assert 'call calling check_order({"order_id": "b456"})' in lines
    barge = next(line for line in lines if line.startswith("call barge-in"))
    heard = barge.split('"')[1]
    cut = next(line for line in lines if "cut off; heard:" in line)
    said = cut.removeprefix("agent ").split(" (cut off")[0]
    # What the runtime kept is what played: a non-empty prefix of the line.
    assert heard and said.startswith(heard) and heard != said
    assert "caller Sorry, I meant order B456." in lines
    assert "call ended: caller_hangup" in lines


def test_record_without_audio_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run(IVR, IVR_CALLER, record=str(tmp_path / "x.wav"))
    assert code == run_command.EXIT_USAGE
    assert "--record needs --audio" in err


def test_sounds_that_are_not_speech_do_not_interrupt_the_agent(tmp_path: Path) -> None:
    flow = tmp_path / "long.yaml"
    flow.write_text("sections:\n  main:\n    - answer: {}\n    - prompt:\n        play: "
                    "'say:Your table for four is booked for eight tonight, and we will keep it "
                    "for fifteen minutes. Say yes to confirm.'\n        speech_hints: [yes]\n"
                    "    - hangup: {}\n")
    script = tmp_path / "long.caller.yaml"
    script.write_text("steps:\n  - sound: cough\n    barge_in: 1.0\n  - sound: click\n"
                      "    barge_in: 2.0\n  - sound: noise\n    barge_in: 3.0\n  - say: 'yes'\n")
    code, timed, _ = _run(str(flow), str(script), audio=True)
    lines = [text for _, text in timed]
    assert code == 0
    assert [line for line in lines if line.startswith("caller [")] == \
        ["caller [cough]", "caller [click]", "caller [noise]"]
    # The prompt played to its end through all three (a barge-in would cut it).
    prompt = next(line for line in lines if line.startswith("agent Your table"))
    assert "cut off" not in prompt
    assert "call prompt: match_speech yes" in lines


# ---------------------------------------------------------------- --transcribe


def _support_demo_transcribed() -> run_command.CallRun:
    """The support demo in audio (its tool served on loopback), with the
    caller transcribing what it heard of the agent."""

    async def main() -> run_command.CallRun:
        runner = web.AppRunner(build_app())
        await runner.setup()
        try:
            await web.TCPSite(runner, demo_command.HOST, 0).start()
            origin = f"http://{demo_command.HOST}:{runner.addresses[0][1]}/"
            name, raw = demo_command.bundled(demo_command.FLOW)
            rules = load_rules(demo_command.bundled(demo_command.MODEL)[1], "model")
            script = load_caller_script(demo_command.bundled(demo_command.CALLER)[1], "caller")
            async with CallHost(llm={"scripted": rules}) as host:
                flow = host.compile(raw.replace(demo_command.DEMO_ORIGIN.encode(),
                                                origin.encode()), name)
                return await run_command.run_call(host, flow, script, base=None, audio=True,
                                                  transcribe=True)
        finally:
            await runner.cleanup()

    return run_virtual(main)


def test_the_caller_hears_the_demo_agent_as_it_spoke_and_a_barge_in_cuts_it() -> None:
    ran = _support_demo_transcribed()
    assert isinstance(ran.caller, AudioCaller)
    heard = ran.caller.agent_heard
    whole = [line for line in heard if not line.line.cut_off]
    assert len(whole) >= 8
    # Each line played to its end is heard nearly as said (the embedded
    # recognizer drops the odd function word: "it is" heard as "is")...
    for line in whole:
        assert line.errors.rate is not None and line.errors.rate <= 0.25, line
    assert (total(whole).rate or 0.0) <= 0.1
    # ...and the tool's answer, words no flow or rule holds, too.
    assert any(line.transcript == "order b 456 out for delivery today" for line in whole)
    # The barged reply: the caller heard its first words only, about what the
    # runtime kept of it (a word being said when it was cut may show too).
    barged = next(line for line in heard if line.line.cut_off and line.expected)
    said, got = comparable(barged.line.text), comparable(barged.transcript)
    assert got and got[0] == said[0]
    assert len(got) <= len(comparable(barged.expected)) + 2 < len(said)
    # In the conversation, each check sits right under the agent line it checks.
    lines = ran.lines()
    checks = [i for i, (_, who, _) in enumerate(lines) if who == "heard"]
    assert len(checks) == len(heard)
    assert all(lines[i - 1][1] == "agent" and lines[i - 1][0] == lines[i][0] for i in checks)


def test_run_transcribe_prints_what_the_caller_heard_and_reports_it_in_json(
        tmp_path: Path) -> None:
    flow = tmp_path / "table.yaml"
    flow.write_text("sections:\n  main:\n    - answer: {}\n    - prompt:\n        play: "
                    "'say:Your table for 4 is booked for 8 tonight. Say yes to confirm.'\n"
                    "        speech_hints: [yes]\n    - play: {url: 'say:Thank you, goodbye.'}\n"
                    "    - hangup: {}\n")
    script = tmp_path / "table.caller.yaml"
    script.write_text("steps:\n  - say: 'yes'\n")
    out = io.StringIO()
    code = run_command.run(str(flow), str(script), audio=True, transcribe=True, as_json=True,
                           out=out, err=io.StringIO())
    assert code == 0
    report = json.loads(out.getvalue())
    lines = report["heard"]["lines"]
    assert [line["said"] for line in lines] == [
        "Your table for 4 is booked for 8 tonight. Say yes to confirm.", "Thank you, goodbye."]
    # "4" said "four" and heard as "four": the same word, in written form.
    assert lines[0]["words"] == 13 and lines[0]["wer"] <= 0.1
    assert report["heard"]["total"]["words"] == 16
    conversation = [(entry["who"], entry["text"]) for entry in report["conversation"]]
    heard_at = conversation.index(next(e for e in conversation if e[0] == "heard"))
    assert conversation[heard_at - 1] == ("agent", lines[0]["said"])
    assert conversation[heard_at][1].startswith('"your table for')
    # Printed: the same lines, and the total after the conversation.
    printed = io.StringIO()
    code = run_command.run(str(flow), str(script), audio=True, transcribe=True, out=printed,
                           err=io.StringIO())
    text = printed.getvalue().splitlines()
    assert code == 0
    agent_at = next(i for i, line in enumerate(text) if line.endswith(lines[0]["said"]))
    assert text[agent_at + 1].split(None, 2)[1:] == ["heard", conversation[heard_at][1]]
    assert text[-1].startswith("caller heard the agent: WER ")
    assert text[-1].endswith(" of 16 words over 2 lines")


def test_transcribe_without_audio_is_a_usage_error() -> None:
    code, _, err = _run(IVR, IVR_CALLER, transcribe=True)
    assert code == run_command.EXIT_USAGE
    assert "--transcribe needs --audio" in err
