"""The ai verb: the agent loop, its prompt and tools, and SWAIG actions."""
