"""The `Telephony` of a media-stream call without call control.

A media stream carries the caller's audio, not the call: dialing another
leg means the provider's call-control REST API (call_control.py). Where the
dialect has none, or the server holds no credentials for its provider,
every dial fails honestly — `leg_failed(..., "failed")` on the next loop
turn — so a flow's `connect` takes its failure branch and a SWAIG transfer
to a number is reported as failed, rather than pretending to ring.
"""

from __future__ import annotations

import asyncio

from interpreter.media.ports import CallerChannel, LegSink

REASON = "failed"


class NoCallControl:
    """Every dial fails; there is never a leg to query, bridge or hang up."""

    def __init__(self) -> None:
        self.dialed: list[str] = []  # destinations asked for, in order
        self._sinks: dict[str, LegSink] = {}

    def dial(self, leg_id: str, destination: str, timeout: float, sink: LegSink) -> None:
        self.dialed.append(destination)
        self._sinks[leg_id] = sink
        asyncio.get_running_loop().call_soon(sink.leg_failed, leg_id, REASON)

    def query(self, leg_id: str) -> None:
        sink = self._sinks.get(leg_id)
        if sink is not None:
            asyncio.get_running_loop().call_soon(sink.leg_status, leg_id, REASON)

    def channel(self, leg_id: str) -> CallerChannel:
        raise LookupError(f"leg {leg_id!r} was never answered: media-stream calls "
                          "cannot dial yet")

    def bridge(self, leg_id: str) -> None:
        raise LookupError(f"leg {leg_id!r} was never answered: nothing to bridge")

    def hangup(self, leg_id: str) -> None:
        """A failed leg has nothing to hang up; no report follows."""
