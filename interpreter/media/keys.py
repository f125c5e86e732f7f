"""The telephone keypad's keys, as SWML and DTMF name them: what a flow may
send and a caller may press. Apart from media/dtmf.py (the tones), which
needs numpy, so the linter and the server's command checks stay light."""

from __future__ import annotations

KEYPAD = ("123A", "456B", "789C", "*0#D")  # KEYPAD[row][column]
DIGITS = "0123456789*#ABCD"
WAITS_MS = {"w": 500, "W": 1000}  # SWML send_digits: a pause, not a key
