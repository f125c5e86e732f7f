"""interrupt_on_noise on audio: the path stops the agent on sound without
words and reports the stop; the runtime takes the report as the barge-in
and keeps what was heard."""

from __future__ import annotations

import json
from pathlib import Path

from tests.transports.test_audio_caller import _run

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        params: {PARAMS}
        prompt: {text: You read out the opening hours.}
"""
MODEL = """\
rules:
  - when: {start: true}
    reply: >-
      We are open from nine in the morning until six in the evening on
      weekdays, and from ten until four on saturdays.
  - when: {said: "bye"}
    reply: "Goodbye!"
  - reply: "Sorry, could you say that again?"
"""
CALLER = """\
steps:
  - sound: noise
    barge_in: 1.5
  - say: "Thanks, bye."
    after: 2
  - hangup: {}
    after: 3
"""


def _noisy_call(tmp_path: Path, params: str) -> tuple[list[str], list[dict[str, object]]]:
    flow = tmp_path / "hours.yaml"
    flow.write_text(FLOW.replace("{PARAMS}", params))
    (tmp_path / "hours.model.yaml").write_text(MODEL)
    (tmp_path / "hours.caller.yaml").write_text(CALLER)
    trace = tmp_path / "hours.jsonl"
    code, timed, err = _run(str(flow), str(tmp_path / "hours.caller.yaml"), audio=True,
                            trace_path=str(trace))
    assert code == 0, err
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    return [text for _, text in timed], records


def test_noise_interrupts_when_the_document_asks(tmp_path: Path) -> None:
    lines, records = _noisy_call(tmp_path, "{interrupt_on_noise: true}")
    barge = next(r for r in records if r["kind"] == "barge_in")
    assert barge["by"] == "PlayoutStopped" and barge["cause"] == "noise"
    heard = str(barge["heard"])
    # A second of hiss, 1.5 s into the reply: the first words were heard.
    assert heard and str(barge["generated"]).startswith(heard) and heard != barge["generated"]
    assert f'call barge-in on noise; agent was heard saying: "{heard}"' in lines
    # Nobody spoke after the noise: the agent goes on 1.5 s later, not after
    # the attention timeout's silence.
    (quiet,) = [r for r in records if r["kind"] == "wait_for_user_elapsed"]
    assert quiet["why"] == "quiet after a barge-in on noise"
    assert float(quiet["t"]) - float(barge["t"]) < 1.6  # type: ignore[arg-type]
    assert not [r for r in records if r["kind"] == "attention_timeout"]
    # The conversation keeps what was heard, and the call goes on.
    assert "agent Goodbye!" in lines and "call ended: caller_hangup" in lines


def test_noise_does_not_interrupt_by_default(tmp_path: Path) -> None:
    lines, records = _noisy_call(tmp_path, "{}")
    barges = [r for r in records if r["kind"] == "barge_in"]
    # The hiss went by; only the caller's words, two seconds after it, cut
    # the (long) reply short.
    assert [(r["by"], r.get("cause")) for r in barges] == [("SpeechStarted", None)]
    noise = next(line for line in lines if line == "caller [noise]")
    assert noise and float(barges[0]["t"]) > 5.0  # type: ignore[arg-type]
