"""The media-stream benchmark's smoke run (`--quick --no-write`): 20 calls
for 5 s, the peer in its own process. Nothing is held to a time: the checks
are that every call was opened and started, frames were paced and measured,
speech onsets reached the VAD, and the figures are well formed."""

from __future__ import annotations

import math

import pytest

from bench.bench_media_streams import FRAME_MS, HEADER, VAD_LIMIT_S, main


def test_a_quick_run_measures_pacing_and_vad_for_every_call(
        capsys: pytest.CaptureFixture[str]) -> None:
    points = main(["--quick", "--no-write"])
    assert len(points) == 1
    point = points[0]
    assert (point.calls, point.opened, point.calls_started) == (20, 20, 20)
    # About 50 agent frames a second per call for 5 s were measured.
    assert point.pacing["n"] > 20 * 50 * 5 * 0.5
    assert 0.0 <= point.pacing["p50"] <= point.pacing["p99"] <= point.pacing["max"]
    # Onsets were sent in the window and the trace recorded SpeechStarted
    # for most of them, after the first speech frame was sent.
    assert point.vad["n"] >= 1 and point.vad["n"] >= point.vad_missed
    assert 0.0 < point.vad["p50"] <= point.vad["p99"] <= VAD_LIMIT_S * 1000
    assert point.finals >= 1  # the recognition worker answered
    assert point.server_cpu > 0 and point.peer_cpu > 0
    assert all(math.isfinite(value) for value in (point.tick_p99, point.peer_send_p99))
    assert point.paced == (point.pacing["p99"] < FRAME_MS)
    printed = capsys.readouterr().out
    assert HEADER in printed and point.row() in printed
    assert "Most calls with pacing lag p99 under one frame" in printed
