"""A simulated caller and telephone network: text media with real timing.

`SimulatedCaller` plays a `CallerScript` against the runtime through the
`CallerChannel` protocol; `SimulatedNetwork` answers the runtime's dials from
the script's destinations through `Telephony`. Media is text, but time means
what it would with audio: agent speech lasts in proportion to its words, so a
caller can barge in mid-sentence and `stop_playout` returns exactly the words
whose time had fully elapsed. All timing comes from the loop's clock (timers
and sleeps), so under `run_virtual` a scenario runs exactly and instantly.

The script's `faults` make media fail as it would in production: speech
synthesis of a phrase, a file that cannot be fetched (played or as background
audio), and, per `say` step, speech-to-text that returns no words. Flows can
so be run through their tts_error, media_error and stt_error recovery.

Playout (simulated_media.py) and leg outcomes use loop timers, not tasks, so
a stop or a hangup takes effect synchronously and leaves nothing behind; the
only task is the caller's script, which `close()` cancels and awaits.
"""

from __future__ import annotations

import asyncio

from interpreter.media.ports import CallSink, PlayoutFailure
from interpreter.transports.caller_script import CallerScript, Say
from interpreter.transports.script_follower import Hearing, ScriptFollower
from interpreter.transports.simulated_media import (
    Background,
    FaultInjector,
    MediaPath,
    Player,
)

CALLER_SECONDS_PER_WORD = 0.35  # the caller's own speech
ENDPOINT_DELAY = 0.3  # from the caller's last word to the final transcript
STATUS_DELAY = 0.1  # a status query's round trip
BUSY_AFTER = 0.5
DECLINED_AFTER = 1.0
GARBLED = "speech not recognized"  # the reason a garbled say's transcription fails


class SimulatedCaller(ScriptFollower, MediaPath):
    """A `CallerChannel` whose caller follows a script; see docs/caller-scripts.md."""

    def __init__(self, script: CallerScript) -> None:
        self._follow_init(script)
        faults = FaultInjector(script.faults)
        self._player = Player(self._playout_finished, self._changed,
                              fault=faults.playout_fault, on_failed=self._playout_failed)
        self._background = Background(self._playout_finished, fault=faults.file_fault,
                                      on_failed=self._playout_failed)

    def attach(self, sink: CallSink) -> None:
        self._begin(sink)

    def _muted(self) -> bool:
        return self.ended

    def _stop_media(self, reason: str) -> None:
        self._player.stop()
        self._background.stop()

    def _release(self) -> None:
        # Player and Background call back into this caller through bound
        # methods: drop them, so a closed caller is freed without a full GC.
        self._player.release()
        self._background.release()

    def _playout_finished(self, playout_id: int) -> None:
        if self._sink is not None and not self.ended:
            self._sink.playout_finished(playout_id)

    def _playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        if self._sink is not None and not self.ended:
            self._sink.playout_failed(playout_id, failure)

    def _hearing(self) -> Hearing:
        return self._player

    async def _speak(self, step: Say) -> float | None:
        assert self._sink is not None
        self._sink.speech_started()
        await asyncio.sleep(len(step.text.split()) * CALLER_SECONDS_PER_WORD + ENDPOINT_DELAY)
        if step.garbled:
            self._sink.transcription_failed(GARBLED)
        else:
            self._sink.transcript(step.text, final=True)
        return None
