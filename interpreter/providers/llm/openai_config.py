"""Whether the OpenAI-compatible provider can be configured from the
environment, said before anything is started (`callkernel run --llm openai`,
`callkernel test`, `callkernel serve --llm openai`). Apart from
providers/llm/openai.py so the check costs no import of the provider."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from interpreter.redaction import redact_text


def openai_problem(env: Mapping[str, str]) -> str | None:
    """Why `--llm openai` cannot work with these variables, or None.

    "Not set" means unset or blank. A base URL alone is enough (a local
    server needs no key); a key alone means api.openai.com; neither is an
    error, and so is api.openai.com without a key."""
    base = (env.get("CALLKERNEL_LLM_BASE_URL") or env.get("OPENAI_BASE_URL") or "").strip()
    key = (env.get("CALLKERNEL_LLM_API_KEY") or env.get("OPENAI_API_KEY") or "").strip()
    if not base and not key:
        return ("--llm openai needs a server: set CALLKERNEL_LLM_BASE_URL to an "
                "OpenAI-compatible server (a local one needs no key, e.g. "
                "http://127.0.0.1:11434/v1 for Ollama), or CALLKERNEL_LLM_API_KEY to use "
                "https://api.openai.com/v1 (OPENAI_BASE_URL and OPENAI_API_KEY work too)")
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return (f"CALLKERNEL_LLM_BASE_URL is not an http(s) URL: {redact_text(base)!r} "
                    "(e.g. http://127.0.0.1:11434/v1)")
    host = urlsplit(base).hostname if base else "api.openai.com"
    if not key and host == "api.openai.com":
        return ("api.openai.com needs a key: set CALLKERNEL_LLM_API_KEY (or OPENAI_API_KEY), "
                "or point CALLKERNEL_LLM_BASE_URL at another server")
    return None
