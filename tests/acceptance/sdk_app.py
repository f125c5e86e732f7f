"""An application built with the signalwire-agents SDK, run for real on
loopback (uvicorn in a thread): the support agent the acceptance tests
call, serving its SWML document and its check_order tool."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn

USER, PASSWORD = "seeduser", "seedpass"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def support_agent(port: int, hints: Sequence[str] = ()) -> Any:
    from signalwire_agents import AgentBase, SwaigFunctionResult  # type: ignore[import-untyped]

    class SupportAgent(AgentBase):  # type: ignore[misc]
        def __init__(self) -> None:
            # host/port are what the SDK writes into the webhook URLs it emits.
            super().__init__(name="Support Agent", route="/support", host="127.0.0.1",
                             port=port, basic_auth=(USER, PASSWORD))
            self.prompt_add_section("Instructions", body="You are a customer support agent. "
                                    "Greet the caller and resolve their issue.")
            self.add_language("English", "en-US", "rime.spore:mistv2")
            if hints:
                self.add_hints(list(hints))

        @AgentBase.tool(name="check_order")  # type: ignore[misc]
        def check_order(self, order_id: str) -> SwaigFunctionResult:
            """Check the status of a customer order.
            Args:
                order_id: The order ID to look up
            """
            return SwaigFunctionResult(f"Order {order_id}: shipped, ETA April 2nd")

    return SupportAgent()


@contextmanager
def running(agent_at: Any = support_agent, **options: Any) -> Iterator[int]:
    """The agent `agent_at(port, **options)` makes, served; yields its port."""
    port = _free_port()
    agent = agent_at(port, **options)
    server = uvicorn.Server(uvicorn.Config(agent.get_app(), host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the SDK app did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
