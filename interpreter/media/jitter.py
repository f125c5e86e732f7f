"""The inbound jitter buffer: the caller's frames back in order, one per tick.

A transport hands over frames with sequence numbers as they come off the
network: out of order (Telnyx does not promise order), twice, late, or never.
`push()` files each by sequence number; the media clock calls `pop()` once a
tick and gets the next frame in order, in the wire encoding, ready for
`frames.decode_batch`.

Playout starts once `depth` frames are buffered, so a frame has `depth`
ticks to arrive after its turn would first have come. Then, each tick:

- the next frame in sequence is there: it plays;
- it is missing but later ones are buffered: it is lost — the last frame
  plays again, attenuated by `conceal_gain` per repeat, and after
  `conceal_frames` repeats silence plays instead;
- nothing is buffered at all (the network stalled): the same concealment,
  and playout waits until `depth` frames are buffered again.

A frame whose turn has passed is dropped as late, one already received as a
duplicate. After a burst (a stall that ends with many frames at once) the
oldest frames are dropped so that no more than `max_depth` wait. A frame
numbered more than `max_gap` away from the next expected is a stray while
frames keep coming, and a restart of the numbering once they have stopped
(the buffer ran dry): playout starts over from it.
Sequence numbers are plain increasing integers: a transport that carries
16-bit RTP numbers unwraps them first.
"""

from __future__ import annotations

from dataclasses import dataclass

from interpreter.media.frames import check_format, frame_bytes, scale_payload, silence_payload
from interpreter.media.ports import AudioFormat


@dataclass(slots=True)
class JitterStats:
    """What happened to the caller's frames, for the trace."""

    received: int = 0  # frames filed in the buffer
    played: int = 0  # frames popped as received
    lost: int = 0  # frames whose turn came and went without them
    late: int = 0  # frames that came after their turn: dropped
    duplicates: int = 0  # frames received twice: dropped
    concealed: int = 0  # ticks that repeated the last frame, attenuated
    silenced: int = 0  # ticks of silence once concealment ran out (after the first frame)
    underruns: int = 0  # times the buffer ran dry and playout waited to refill
    dropped: int = 0  # frames dropped to bring the delay back to max_depth after a burst
    malformed: int = 0  # payloads that were not one frame long: dropped
    stray: int = 0  # frames numbered over max_gap away while others flow: dropped
    resyncs: int = 0  # restarts after a jump over max_gap once the stream had stopped


class JitterBuffer:
    """Reorders one call's inbound frames; `pop()` once per media tick."""

    def __init__(self, fmt: AudioFormat, depth: int = 2, *, max_depth: int | None = None,
                 conceal_frames: int = 3, conceal_gain: float = 0.5,
                 max_gap: int = 50) -> None:
        if depth < 1:
            raise ValueError("a jitter buffer needs a depth of at least one frame")
        self.format = check_format(fmt)
        self.depth = depth
        self.max_depth = max(max_depth if max_depth is not None else depth + 4, depth)
        self.conceal_frames = conceal_frames
        self.conceal_gain = conceal_gain
        self.max_gap = max_gap
        self.stats = JitterStats()
        self._size = frame_bytes(fmt)
        self._silence = silence_payload(fmt)
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # the sequence number whose turn is next
        self._filling = True
        self._last: bytes | None = None  # the last frame played, for concealment
        self._losses = 0  # ticks in a row without a received frame
        self._missed: set[int] = set()  # recent sequence numbers that never played

    @property
    def buffered(self) -> int:
        return len(self._frames)

    def push(self, seq: int, payload: bytes) -> None:
        """A frame from the network, in whatever order it came."""
        stats = self.stats
        if len(payload) != self._size:
            stats.malformed += 1
            return
        if self._next is not None:
            if abs(seq - self._next) > self.max_gap:
                if self._frames:
                    stats.stray += 1  # a wild number while the stream flows
                    return
                self._resync()  # the sender numbers afresh: start over from here
            elif seq < self._next:
                if seq in self._missed:
                    self._missed.discard(seq)
                    stats.late += 1
                else:
                    stats.duplicates += 1
                return
        if seq in self._frames:
            stats.duplicates += 1
            return
        self._frames[seq] = payload
        stats.received += 1

    def pop(self) -> bytes:
        """This tick's frame, in the wire encoding."""
        frames = self._frames
        if self._filling:
            if len(frames) < self.depth:
                return self._conceal()
            self._start()
        if len(frames) > self.max_depth:
            self._trim()
        assert self._next is not None
        payload = frames.pop(self._next, None)
        if payload is not None:
            self._next += 1
            self._last = payload
            self._losses = 0
            self.stats.played += 1
            return payload
        if not frames:
            self.stats.underruns += 1
            self._filling = True
            return self._conceal()
        self._lose(self._next)
        self._next += 1
        return self._conceal()

    def _start(self) -> None:
        """Enough is buffered: play from the oldest frame."""
        first = min(self._frames)
        if self._next is not None:
            for seq in range(self._next, first):
                self._lose(seq)
        self._next = first
        self._filling = False

    def _trim(self) -> None:
        assert self._next is not None
        for seq in sorted(self._frames)[:len(self._frames) - self.max_depth]:
            del self._frames[seq]
            self.stats.dropped += 1
            for missing in range(self._next, seq):
                self._lose(missing)
            self._next = seq + 1

    def _lose(self, seq: int) -> None:
        self.stats.lost += 1
        self._missed.add(seq)
        if len(self._missed) > 2 * self.max_gap:
            horizon = seq - self.max_gap
            self._missed = {s for s in self._missed if s >= horizon}

    def _resync(self) -> None:
        self.stats.resyncs += 1
        self._frames.clear()
        self._missed.clear()
        self._next = None
        self._filling = True

    def _conceal(self) -> bytes:
        if self._last is None:
            return self._silence  # nothing has arrived yet
        self._losses += 1
        if self._losses > self.conceal_frames:
            self.stats.silenced += 1
            return self._silence
        self.stats.concealed += 1
        return scale_payload(self._last, self.format, self.conceal_gain ** self._losses)
