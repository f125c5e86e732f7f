"""The call host: live calls by id, commands through the inbox, flow sources."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from interpreter.clock import run_virtual
from interpreter.commands.run import stt_workers
from interpreter.document.compile import compile_text
from interpreter.host import CallHost
from interpreter.media.ports import ListenSettings
from interpreter.media.recognition import Recognizer
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import Vocabulary
from interpreter.runtime import events as ev
from interpreter.runtime.call import Call
from tests.runtime.doubles import ScriptedChannel, ScriptedTelephony

FLOW = "sections:\n  main:\n    - answer: {}\n    - sleep: 60000\n    - hangup: {}\n"


def test_a_live_call_is_listed_takes_commands_and_leaves_when_it_ends() -> None:
    async def main() -> tuple[list[str], bool, bool, Call]:
        async with CallHost() as host:
            call = host.start_call(compile_text(FLOW, "live.yaml"), ScriptedChannel(),
                                   ScriptedTelephony(), call_id="c-1")
            await asyncio.sleep(1)
            live = [c.call_id for c in host.live()]
            accepted = host.post("c-1", ev.HangupRequested())
            await asyncio.sleep(1)
            refused = host.post("c-1", ev.HangupRequested())
            return live, accepted, refused, call

    live, accepted, refused, call = run_virtual(main)
    assert live == ["c-1"] and accepted and not refused
    assert call.trace.of_kind("call_ended")[0]["disposition"] == "hangup_requested"


def test_flow_loader_reads_inline_swml_and_files_beside_the_flow(tmp_path: Path) -> None:
    (tmp_path / "next.yaml").write_text(
        "sections:\n  main:\n    - play: {url: 'say:Next.'}\n")
    host = CallHost(warnings=io.StringIO())
    load = host.flow_loader(tmp_path, {})

    async def main() -> tuple[str, str]:
        inline = await load('{"sections": {"main": [{"hangup": {}}]}}')
        beside = await load("next.yaml")
        return inline.source_file, beside.source_file

    inline, beside = asyncio.run(main())
    assert inline == "<inline SWML>" and beside.endswith("next.yaml")
    with pytest.raises(LookupError):
        asyncio.run(load("missing.yaml"))


def test_traces_go_to_the_trace_directory(tmp_path: Path) -> None:
    async def main() -> None:
        async with CallHost(trace_dir=tmp_path) as host:
            await host.run_call(compile_text("sections:\n  main:\n    - hangup: {}\n", "t.yaml"),
                                ScriptedChannel(), ScriptedTelephony(), call_id="c-2")

    run_virtual(main)
    assert '"kind": "call_ended"' in (tmp_path / "c-2.jsonl").read_text()


def test_a_host_can_send_every_calls_trace_to_its_own_sink() -> None:
    got: dict[str, list[dict[str, object]]] = {}

    class Collect:
        def __init__(self, call_id: str) -> None:
            self.records = got.setdefault(call_id, [])

        def write(self, record: dict[str, object]) -> None:
            self.records.append(record)

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    async def main() -> None:
        async with CallHost(trace_sinks=Collect, trace_retain=0) as host:
            call = await host.run_call(
                compile_text("sections:\n  main:\n    - hangup: {}\n", "s.yaml"),
                ScriptedChannel(), ScriptedTelephony(), call_id="c-3")
            assert call.trace.records == []  # nothing kept in memory

    run_virtual(main)
    assert got["c-3"][-1]["kind"] == "call_ended"


@pytest.mark.parametrize("dest", ["/etc/hostname.yaml", "../outside.yaml", "sub/../../x.yaml"])
def test_flow_loader_never_leaves_the_flows_folder(tmp_path: Path, dest: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (tmp_path / "outside.yaml").write_text("sections:\n  main:\n    - hangup: {}\n")
    load = CallHost(warnings=io.StringIO()).flow_loader(flows, {})
    with pytest.raises(LookupError, match="outside the flow's folder"):
        asyncio.run(load(dest))


def test_recognition_runs_on_the_tick_unless_the_host_has_workers() -> None:
    vocabulary = Vocabulary.of(["transfer me to sales"])

    async def main() -> tuple[object, object, bool]:
        async with CallHost() as plain:
            inline = plain.recognizer(vocabulary)
        async with CallHost(stt_workers=1) as host:
            worked = host.recognizer(vocabulary)
            recognition = worked.open(ListenSettings())  # type: ignore[union-attr]
            recognition.close()
            workers = host._stt_workers
            assert workers is not None
        return inline, worked, any(w.alive for w in workers._workers)

    inline, worked, alive_after = asyncio.run(main())
    assert isinstance(inline, PocketsphinxProvider)
    assert isinstance(worked, Recognizer) and not isinstance(worked, PocketsphinxProvider)
    assert not alive_after  # the host stopped its workers when it closed


def test_workers_are_for_wall_clock_runs_and_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLKERNEL_STT_WORKERS", "2")
    assert stt_workers(wall_clock=True) == 2
    assert stt_workers(wall_clock=False) == 0  # the virtual clock stays deterministic
    monkeypatch.setenv("CALLKERNEL_STT_WORKERS", "many")
    assert stt_workers(wall_clock=True) == 0
