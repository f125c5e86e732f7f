"""`callkernel demo --phone`: the server in-process, the example flows
published over REST, and the support call as a phone call through the
media-stream transport (a loopback provider peer with an eSpeak caller),
printed, recorded and drawn. Runs in real time (about half a minute)."""

from __future__ import annotations

import io
from pathlib import Path

import soundfile

from interpreter.commands import demo_phone


def test_the_phone_demo_runs_the_support_call_and_says_how_to_try_it(
        tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    wav, png = tmp_path / "demo-phone.wav", tmp_path / "demo-phone.png"
    code = demo_phone.run(out, err, port=0, record=str(wav), timeline=str(png))
    printed = out.getvalue()
    assert code == 0, printed + err.getvalue()
    assert "published: support" in printed
    assert "agent   Hi, this is Riley from Acme Outdoor Gear." in printed
    assert "calling check_order(" in printed and "check_order returned: Order" in printed
    assert "ended: caller_hangup" in printed
    audio, rate = soundfile.read(str(wav), dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    assert abs(audio[:, 0]).max() > 1000 and abs(audio[:, 1]).max() > 1000  # both sides
    assert png.read_bytes().startswith(b"\x89PNG")
    assert demo_phone.TRY_IT in printed


def test_the_published_support_flow_expects_its_callers_lines() -> None:
    source = b"sections:\n  main:\n    - ai:\n        hints: [Acme]\n"
    hinted = demo_phone.with_hints(source, ["it's order A123"])
    assert b"- Acme" in hinted and b"- it's order A123" in hinted


def test_only_flows_are_published_the_support_flow_first() -> None:
    names = [name for name, _ in demo_phone.example_flows()]
    assert names[0] == "support" and "ivr" in names
    assert not any("." in name for name in names)  # no callers, models or tests
