"""The audio runtime end to end with every embedded engine: the agent speaks
through eSpeak NG, the caller's recorded voice comes in frame by frame, and
the listener (energy gate, webrtcvad, endpointing, pocketsphinx with the
flow's vocabulary) hears it. Barge-in stops the agent in the tick that
decides it, what was heard is a prefix of what was said, the caller's words
arrive as a transcript, and a backchannel pauses the agent without losing
anything."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from interpreter.clock import run_virtual
from interpreter.ir import Barge, BargePolicy
from interpreter.media.clock import MediaClock
from interpreter.media.listening import SpeechListener
from interpreter.media.path import AudioPath
from interpreter.media.playout import Samples
from interpreter.media.ports import Heard, ListenSettings, Utterance
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import Vocabulary
from interpreter.providers.tts.espeak import EspeakTts
from interpreter.providers.vad.webrtc import WebRtcVad
from tests.media.test_path import Sink
from tests.media.vad_audio import join, onset, silence, speech

RATE = 16_000
FRAME = RATE // 50
REPLY = ("We have tables at six, seven and eight tonight, and the terrace opens at "
         "nine if you would rather sit outside, so which of those would suit you best")
PHRASES = ["I want to speak to a person", "uh huh", "yes please", "no thanks",
           "transfer me to sales", "cancel my appointment"]
STT = PocketsphinxProvider(Vocabulary.of(PHRASES), pool_size=1)


@dataclass
class Call:
    agent_frames: list[int]  # ticks whose outbound frame carried agent audio
    deciding: list[int]
    heard: Heard
    sink: Sink
    caller_onset_sample: int

    @property
    def caller_onset_tick(self) -> int:
        return self.caller_onset_sample // FRAME + 1


def _call(caller: str | Samples, at: float, policy: BargePolicy,
          seconds: float = 12.0) -> Call:
    """The agent says REPLY; the caller (a fixture's name, or audio) starts `at` s in."""
    voice = speech(caller, RATE) if isinstance(caller, str) else caller
    inbound_audio = join(silence(at, RATE), voice, silence(seconds, RATE))
    agent_frames: list[int] = []
    sink = Sink()

    async def main() -> Call:
        clock = MediaClock()
        position = 0

        def inbound() -> Samples:
            nonlocal position
            frame = inbound_audio[position:position + FRAME]
            position += FRAME
            return frame if len(frame) == FRAME else np.zeros(FRAME, dtype=np.int16)

        def outbound(frame: Samples) -> None:
            if np.any(frame):
                agent_frames.append(clock.tick_number)

        listener = SpeechListener(WebRtcVad(RATE), STT, RATE, ListenSettings())
        path = AudioPath(clock, RATE, EspeakTts(), listener, inbound=inbound,
                         outbound=outbound, policy=policy)
        path.attach(sink)
        path.play(1, [Utterance("say", REPLY)])
        await asyncio.sleep(seconds)
        heard = path.stop_playout()
        path.hangup("done")
        clock.stop()
        return Call(agent_frames, path.deciding_ticks, heard, sink, onset(inbound_audio))

    return run_virtual(main)


def test_the_caller_interrupts_and_the_agent_stops_in_the_deciding_tick() -> None:
    call = _call("i_want_to_speak_to_a_person.wav", 2.0, BargePolicy(mode=Barge.ALL))
    assert len(call.deciding) == 1
    decided = call.deciding[0]
    # Decided within 200 ms of the caller's first sound, and not one agent
    # frame went out from that tick on.
    assert 0 <= decided - call.caller_onset_tick <= 10
    assert max(call.agent_frames) < decided
    # Heard: a prefix of the reply, roughly the 2 s that played.
    assert REPLY.startswith(call.heard.text) and 3 <= call.heard.words <= 9
    assert call.sink.said[-1] == "i want to speak to a person"


def test_words_decide_when_the_policy_wants_two() -> None:
    call = _call("transfer_me_to_sales.wav", 2.0, BargePolicy(min_words=2))
    assert len(call.deciding) == 1
    # Paused at the onset, committed when the words came: nothing played between.
    assert not [t for t in call.agent_frames if t >= call.caller_onset_tick + 10]
    assert call.sink.said[-1] == "transfer me to sales"


def test_a_backchannel_pauses_the_agent_and_nothing_is_lost() -> None:
    call = _call("uh_huh.wav", 2.0, BargePolicy(min_words=3), seconds=16.0)
    assert call.deciding == []
    assert call.sink.finished == [1]  # the whole reply played
    assert call.sink.said[-1] == "uh huh"
    # The agent was held while the backchannel was decided.
    held = [t for t in range(call.caller_onset_tick, call.caller_onset_tick + 40)
            if t not in call.agent_frames]
    assert len(held) >= 20
