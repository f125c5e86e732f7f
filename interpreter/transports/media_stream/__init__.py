"""Telephony media streams over WebSocket (docs/media-streams.md): the
provider dialects (dialects.py, events.py), the call's channel on one
stream (channel.py, marks.py), dials that fail honestly until call control
exists (telephony.py), and the aiohttp endpoint (server.py)."""
