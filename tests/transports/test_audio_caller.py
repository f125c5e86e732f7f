"""`callkernel run --audio`: the caller script played as audio through the
real audio runtime — eSpeak NG speaks both sides, webrtcvad, endpointing and
pocketsphinx hear the caller — and the call recorded to a stereo WAV."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile

from interpreter.commands import demo as demo_command
from interpreter.commands import run as run_command

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
