"""Voice activity detection: the protocol (`base`), webrtcvad (default) and
silero (optional), behind an energy gate."""
