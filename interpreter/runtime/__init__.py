"""The call runtime: one actor per call, its events, the verb executor and the trace."""
