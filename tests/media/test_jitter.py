"""The inbound jitter buffer: order, duplicates, late frames, loss concealment."""

from __future__ import annotations

import numpy as np
import pytest

from interpreter.media import frames
from interpreter.media.jitter import JitterBuffer
from interpreter.media.ports import AudioFormat

PCM = AudioFormat("pcm16", 8000)
MULAW = AudioFormat("mulaw", 8000)
SILENCE = frames.silence_payload(PCM)


def _frame(seq: int) -> bytes:
    """A frame at a steady level that says which one it is in its first
    samples, with a marker that silence and attenuated repeats lack."""
    samples = np.full(160, 1000, dtype=np.int16)
    samples[:3] = seq >> 15, seq & 0x7FFF, 1
    return frames.encode(samples, PCM)


def _seq(payload: bytes) -> int:
    """Which frame this is; -1 for silence or a concealing repeat."""
    samples = frames.decode(payload, PCM)
    return (int(samples[0]) << 15 | int(samples[1])) if samples[2] == 1 else -1


def _run(buffer: JitterBuffer, arrivals: list[list[int]]) -> list[int]:
    """Each tick: push that tick's arrivals, then pop; the frames played."""
    return [_seq(_tick(buffer, seqs)) for seqs in arrivals]


def _tick(buffer: JitterBuffer, seqs: list[int]) -> bytes:
    for seq in seqs:
        buffer.push(seq, _frame(seq))
    return buffer.pop()


def test_in_order_frames_play_in_order_after_the_buffer_fills() -> None:
    buffer = JitterBuffer(PCM, depth=3)
    played = _run(buffer, [[seq] for seq in range(10)])
    assert played == [-1, -1, 0, 1, 2, 3, 4, 5, 6, 7]
    assert buffer.stats.played == 8
    assert buffer.stats.lost == buffer.stats.concealed == 0


def test_frames_out_of_order_within_the_depth_play_in_order() -> None:
    buffer = JitterBuffer(PCM, depth=2)
    arrivals = [[1], [0], [3], [2], [5], [4], [6], [8], [7], [9], [], []]
    assert _run(buffer, arrivals) == [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1]
    assert buffer.stats.lost == 0
    assert buffer.stats.played == 10


def test_sequence_numbers_need_not_start_at_zero() -> None:
    buffer = JitterBuffer(PCM, depth=2)
    assert _run(buffer, [[70_001], [70_002], [70_003]]) == [-1, 70_001, 70_002]


def test_duplicates_are_dropped_whether_waiting_or_already_played() -> None:
    buffer = JitterBuffer(PCM, depth=2)
    arrivals = [[0, 0], [1], [2, 1], [3, 0], [4]]
    assert _run(buffer, arrivals) == [-1, 0, 1, 2, 3]
    assert buffer.stats.duplicates == 3
    assert buffer.stats.late == 0


def test_a_lost_frame_repeats_the_last_one_attenuated() -> None:
    buffer = JitterBuffer(PCM, depth=2, conceal_gain=0.5)
    outs = [_tick(buffer, seqs) for seqs in [[0], [1], [3], [4], [5]]]
    assert [_seq(out) for out in outs[:3]] == [-1, 0, 1]
    concealed = frames.decode(outs[3], PCM)  # frame 2's turn
    assert (concealed[3:] == 500).all()
    assert _seq(outs[4]) == 3
    assert (buffer.stats.lost, buffer.stats.concealed) == (1, 1)


def test_losses_in_a_row_fade_then_fall_silent() -> None:
    buffer = JitterBuffer(PCM, depth=2, conceal_frames=3, conceal_gain=0.5)
    arrivals = [[0], [1], [], [], [], [], [], [7], [8], [9]]
    outs = [_tick(buffer, seqs) for seqs in arrivals]
    levels = [frames.frame_dbfs(frames.decode(out, PCM)) for out in outs]
    # frame 1 plays at tick 2, then the buffer is dry: three fading repeats
    assert _seq(outs[2]) == 1
    assert levels[3:6] == pytest.approx([levels[2] - 6.02 * k for k in (1, 2, 3)], abs=0.1)
    assert outs[6] == SILENCE and outs[7] == SILENCE
    assert buffer.stats.concealed == 3
    assert buffer.stats.silenced >= 2


def test_a_stall_waits_to_refill_then_plays_on_with_the_missing_frames_lost() -> None:
    buffer = JitterBuffer(PCM, depth=2)
    arrivals = [[0], [1], [2], [], [], [], [6], [7], [8], [9]]
    played = _run(buffer, arrivals)
    assert played[:3] == [-1, 0, 1]
    assert played[-3:] == [6, 7, 8]
    assert buffer.stats.underruns == 1
    assert buffer.stats.lost == 3  # 3, 4 and 5 never came


def test_a_frame_that_comes_after_its_turn_is_dropped_as_late() -> None:
    buffer = JitterBuffer(PCM, depth=2)
    arrivals = [[0], [1], [3], [4], [2, 5], [6]]
    played = _run(buffer, arrivals)
    assert 2 not in played
    assert played == [-1, 0, 1, -1, 3, 4]  # 2 is concealed in its turn
    assert (buffer.stats.lost, buffer.stats.late, buffer.stats.duplicates) == (1, 1, 0)


def test_a_burst_after_a_stall_is_trimmed_to_max_depth() -> None:
    buffer = JitterBuffer(PCM, depth=2, max_depth=4)
    arrivals = [[0], [1], [], [], [], [], [2, 3, 4, 5, 6, 7, 8, 9], [10], [11]]
    played = _run(buffer, arrivals)
    assert played[-3:] == [6, 7, 8]
    assert buffer.stats.dropped == 4  # 2..5: the delay goes back to max_depth
    assert buffer.buffered <= 4


def test_a_restart_of_the_numbering_resynchronises() -> None:
    buffer = JitterBuffer(PCM, depth=2, max_gap=50)
    played = _run(buffer, [[500], [501], [502], [], [], [0], [1], [2], [3]])
    assert played[:3] == [-1, 500, 501]
    assert played[-2:] == [1, 2]
    assert buffer.stats.resyncs == 1


def test_a_wild_sequence_number_while_frames_flow_is_a_stray() -> None:
    buffer = JitterBuffer(PCM, depth=2, max_gap=50)
    played = _run(buffer, [[0], [1], [2, 9_999], [3], [4]])
    assert played == [-1, 0, 1, 2, 3]
    assert buffer.stats.stray == 1
    assert buffer.stats.resyncs == 0


def test_a_payload_that_is_not_one_frame_is_dropped() -> None:
    buffer = JitterBuffer(PCM, depth=1)
    buffer.push(0, b"\x00" * 100)
    assert buffer.pop() == SILENCE
    assert buffer.stats.malformed == 1
    assert buffer.stats.received == 0


def test_nothing_received_yet_is_silence_and_not_a_loss() -> None:
    buffer = JitterBuffer(MULAW, depth=2)
    assert [buffer.pop() for _ in range(5)] == [frames.silence_payload(MULAW)] * 5
    assert buffer.stats.lost == buffer.stats.concealed == buffer.stats.silenced == 0


def test_concealment_works_in_the_wire_encoding() -> None:
    buffer = JitterBuffer(MULAW, depth=1, conceal_gain=0.5)
    loud = frames.encode(np.full(160, 8000, dtype=np.int16), MULAW)
    buffer.push(0, loud)
    assert buffer.pop() == loud
    buffer.push(2, loud)
    concealed = frames.decode(buffer.pop(), MULAW)
    assert np.abs(concealed.astype(np.int32) - 4000).max() <= 128  # one μ-law step


def test_depth_must_be_at_least_one_frame() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        JitterBuffer(PCM, depth=0)


def test_a_long_shuffled_stream_plays_every_frame_once_in_order() -> None:
    rng = np.random.default_rng(11)
    count, depth = 2000, 3
    # each frame is delayed by 0, 1 or 2 ticks: never more than the depth allows
    due: dict[int, list[int]] = {}
    for seq in range(count):
        due.setdefault(seq + int(rng.integers(0, depth)), []).append(seq)
    buffer = JitterBuffer(PCM, depth=depth)
    played = [s for s in _run(buffer, [due.get(t, []) for t in range(count + 10)]) if s >= 0]
    assert played == list(range(count))
    assert buffer.stats.lost == buffer.stats.late == 0
    assert buffer.stats.underruns == 1  # only when the stream ends


@pytest.mark.parametrize("seed", range(5))
def test_a_rough_network_never_plays_a_frame_twice_or_out_of_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = 3000
    due: dict[int, list[int]] = {}
    for seq in range(count):
        if rng.random() < 0.05:
            continue  # lost on the way
        copies = 2 if rng.random() < 0.03 else 1
        for _ in range(copies):  # delays of up to 8 ticks: some come too late
            due.setdefault(seq + int(rng.geometric(0.5)) - 1, []).append(seq)
    buffer = JitterBuffer(PCM, depth=2, max_depth=5)
    played = [s for s in _run(buffer, [due.get(t, []) for t in range(count + 20)]) if s >= 0]
    stats = buffer.stats
    assert played == sorted(set(played))
    assert stats.played == len(played)
    assert stats.received == stats.played + stats.dropped + buffer.buffered
    pushed = sum(len(seqs) for seqs in due.values())
    assert pushed == stats.received + stats.duplicates + stats.late
    assert stats.lost >= count * 0.05 * 0.8
    assert stats.concealed + stats.silenced >= stats.lost
