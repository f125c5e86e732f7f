"""Recordings on the audio path: formats, the beep, max_length, the folder."""

from __future__ import annotations

import asyncio
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from interpreter.clock import run_virtual
from interpreter.commands import run as run_command
from interpreter.media.clock import MediaClock
from interpreter.media.path import AudioPath
from interpreter.media.ports import Recording, RecordingFailed
from interpreter.media.recording import BEEP_HZ, BEEP_SECONDS, Recorder, recordings_folder
from tests.media.doubles import TenthSecondWords
from tests.media.test_path import RATE, Script, Sink

CALLER = np.full(320, 700, dtype=np.int16)
FLOWS = Path(__file__).resolve().parents[2] / "flows"


def _record(recording: Recording, folder: Path | None,
            seconds: float = 1.0) -> tuple[str, list[np.ndarray]]:
    """Record `seconds` of a caller who says 700 in every sample; the file's
    URL and every outbound frame."""
    urls: list[str] = []
    out: list[np.ndarray] = []

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), Script({}), inbound=lambda: CALLER,
                         outbound=out.append, recordings=folder)
        path.attach(Sink())
        await asyncio.sleep(0.1)
        urls.append(path.start_recording("rec 1/../x", recording))
        await asyncio.sleep(seconds)
        path.stop_recording("rec 1/../x")
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    return urls[0], out


def _file(url: str) -> Path:
    assert url.startswith("file://")
    return Path(url.removeprefix("file://"))


def test_max_length_cuts_the_recording(tmp_path: Path) -> None:
    url, _ = _record(Recording(direction="speak", max_length_s=0.4), tmp_path)
    audio, rate = soundfile.read(str(_file(url)), dtype="int16")
    assert rate == RATE and len(audio) == 20 * 320 and (audio == 700).all()
    # The control id cannot walk out of the folder.
    assert _file(url).parent == tmp_path and _file(url).name.startswith("rec_1____x-")


def test_the_beep_plays_first_and_the_recording_starts_after_it(tmp_path: Path) -> None:
    url, out = _record(Recording(direction="both", stereo=True, beep=True), tmp_path)
    beep_frames = math.ceil(BEEP_SECONDS * 50)  # its last frame is part silence
    agent = np.concatenate(out)
    played = agent[5 * 320:(5 + beep_frames) * 320].astype(np.float64)  # started 0.1 s in
    spectrum = np.abs(np.fft.rfft(played))
    assert abs(np.argmax(spectrum) * RATE / len(played) - BEEP_HZ) < 5
    assert not agent[(5 + beep_frames) * 320:].any()  # then silence
    audio, _ = soundfile.read(str(_file(url)), dtype="int16")
    # One second less the beep, and the beep is not in it.
    assert len(audio) == (50 - beep_frames) * 320
    assert not audio[:, 1].any() and (audio[:, 0] == 700).all()


@pytest.mark.parametrize(("asked", "written", "container"),
                         [("mp3", ".mp3", "MP3"), ("mp4", ".wav", "WAV"), ("wav", ".wav", "WAV")])
def test_formats(tmp_path: Path, asked: str, written: str, container: str) -> None:
    url, _ = _record(Recording(format=asked, direction="speak"), tmp_path)
    assert _file(url).suffix == written
    info = soundfile.info(str(_file(url)))
    assert info.format == container and info.samplerate == RATE
    assert abs(info.duration - 1.0) < 0.1


def test_the_folder_comes_from_the_environment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLKERNEL_RECORDINGS", str(tmp_path / "recs"))
    assert recordings_folder() == tmp_path / "recs"
    assert recordings_folder(tmp_path / "given") == tmp_path / "given"
    url, _ = _record(Recording(direction="speak"), None, seconds=0.2)
    assert _file(url).parent == tmp_path / "recs" and _file(url).exists()


def test_a_mixed_recording_adds_both_sides(tmp_path: Path) -> None:
    recorder = Recorder.to_folder(tmp_path, "mix", Recording(), start_tick=3, max_seconds=None)
    for tick in range(6):
        recorder.add(tick, np.full(320, 30_000, np.int16), np.full(320, 10_000, np.int16))
    recorder.write(RATE)
    audio, _ = soundfile.read(str(recorder.target), dtype="int16")
    assert len(audio) == 3 * 320 and (audio == 32767).all()  # from tick 3, clipped


def test_a_folder_that_cannot_be_written_fails_the_recording_not_the_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CALLKERNEL_RECORDINGS", str(blocker))

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), Script({}))
        path.attach(Sink())
        with pytest.raises(RecordingFailed, match=r"cannot record in .*a-file"):
            path.start_recording("vm", Recording())
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    trace = tmp_path / "ivr.jsonl"
    code = run_command.run(str(FLOWS / "ivr.yaml"), str(FLOWS / "ivr.caller.yaml"),
                           out=io.StringIO(), err=io.StringIO(), audio=True,
                           trace_path=str(trace))
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    (error,) = [r for r in records if r["kind"] == "error"]
    assert (error["type"], error["fatal"]) == ("media_error", False)
    assert code == run_command.EXIT_OK
    ended = next(r for r in records if r["kind"] == "call_ended")
    assert ended["disposition"] == "hangup:hangup"


def test_a_background_recording_ends_on_the_callers_silence(tmp_path: Path) -> None:
    frame = np.full(320, 10, np.int16)
    nobody = Recorder.to_folder(tmp_path, "quiet", Recording(initial_timeout_s=0.2), 0, None)
    talker = Recorder.to_folder(tmp_path, "talker", Recording(initial_timeout_s=0.2,
                                                              end_silence_s=0.1), 0, None)
    for tick in range(40):
        if tick == 5:
            talker.speech(True, tick)
        if tick == 15:
            talker.speech(False, tick)  # endpointing: the caller has stopped
        nobody.add(tick, frame, frame)
        talker.add(tick, frame, frame)
    assert len(nobody.caller) == 10 and nobody.ended  # 0.2 s without a word
    assert len(talker.caller) == 20 and talker.ended  # 0.1 s after the speech ended
