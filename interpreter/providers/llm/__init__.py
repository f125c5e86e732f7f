"""LLM providers: the protocol (`base`), `openai` (OpenAI-compatible chat
completions over SSE) and `scripted` (deterministic rules for tests and demos)."""
