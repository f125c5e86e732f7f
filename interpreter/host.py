"""The call host: what a process running calls stands on.

`CallHost` owns the live calls by id (start, look up, post a command, list),
where flows come from (a file, inline SWML, a URL fetched the way the hosted
platform fetches an SDK agent's document), LLM providers by name, one shared
HTTP client, where traces go, the outbox for post-call work, and the GC
tuning many live calls need. `callkernel run`, `test` and `demo`, the
benchmarks and the server all use it; nothing below it knows which.

    host → runtime (Call, verbs, ai loop) → media ports ← transports
                                          → providers (LLM) / HTTP / outbox
"""

from __future__ import annotations

import asyncio
import functools
import gc
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import aiohttp

from interpreter import ir, limits
from interpreter.destinations import DestinationPolicy, connector
from interpreter.document.coerce import split_credentials
from interpreter.document.compile import compile_flow
from interpreter.document.loader import load_document
from interpreter.errors import CallkernelError
from interpreter.http import AiohttpClient, HttpClient, HttpError, HttpRequest
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import CallerChannel, Telephony
from interpreter.providers.llm.base import LlmProvider
from interpreter.runtime import events as ev
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call
from interpreter.runtime.outbox import MemoryOutbox, Outbox
from interpreter.runtime.tools.runner import MockRunner, ToolMock
from interpreter.runtime.tools.webhook import basic_auth
from interpreter.runtime.trace import TraceSink
from interpreter.signing import RequestSigner

if TYPE_CHECKING:  # the speech engines load only for audio calls
    from interpreter.media.recognition import Recognizer, SttWorkers
    from interpreter.providers.stt.base import SttProvider
    from interpreter.providers.stt.vocabulary import Vocabulary

FETCH_TIMEOUT = 10.0
MAX_DOCUMENT_BYTES = limits.DOCUMENT_MAX_BYTES
# Young-generation collections before a full one is considered: CPython's
# default is 10; at this value full collections effectively happen only when
# the host asks for one (gc.collect(), e.g. while idle).
FULL_COLLECTION_THRESHOLD = 1_000_000

FlowLoader = Callable[[str], Awaitable[ir.CompiledFlow]]


class FlowUnavailable(CallkernelError):
    """A flow source could not be read or fetched (not a document problem)."""


def tune_gc_for_calls() -> None:
    """Python's full collection stops the loop while it walks every tracked
    object: about 0.2 ms per live call. Calls leave no reference cycles (see
    tests/runtime/test_call_memory.py), so freeze what startup allocated and
    make full collections rare; young collections still run. Call once,
    after startup has loaded what it needs."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)


class CallHost:
    """Live calls, flow sources, providers, one HTTP client, traces, outbox.

    Use as `async with CallHost(...) as host:`; leaving it drains the outbox
    (summaries are delivered) and closes the shared HTTP client."""

    def __init__(self, *, llm: Mapping[str, LlmProvider] | None = None,
                 default_llm: str = "scripted", outbox: Outbox | None = None,
                 trace_dir: str | Path | None = None, warnings: TextIO | None = None,
                 many_calls: bool = False, http: HttpClient | None = None,
                 trace_retain: int | None = None, call_type: type[Call] = Call,
                 trace_sinks: Callable[[str], TraceSink] | None = None,
                 destinations: DestinationPolicy | None = None,
                 trace_words: bool = False, stt_workers: int = 0,
                 signer: RequestSigner | None = None) -> None:
        """`http`: the client every call's requests go through (a double in
        tests); by default one pooled aiohttp client the host owns.
        `trace_retain`: trace records each live call keeps in memory (None:
        all, for tests and the CLI; a server keeps few and reads the files).
        `call_type`: a Call subclass, for instrumented calls (benchmarks).
        `trace_sinks`: a call id → where that call's trace records go (instead
        of a JSONL file per call in `trace_dir`). `destinations`: where the
        calls' requests may go (default: from the environment, see
        interpreter/destinations.py). `trace_words`: trace each streamed
        model word as its own event (for barge-in analysis; off by default).
        `stt_workers`: worker processes the audio calls' speech recognition
        runs in (0: on the media tick, deterministic; see
        media/recognition.py). `signer`: signs every request of the client
        the host makes (interpreter/signing.py; not applied to a given `http`)."""
        self.providers: dict[str, LlmProvider] = dict(llm or {})
        self.default_llm = default_llm
        self.calls: dict[str, Call] = {}
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self.warnings = warnings
        self._outbox = outbox
        self._http: HttpClient | None = http
        self._session: aiohttp.ClientSession | None = None
        self._tasks: dict[str, asyncio.Task[Call]] = {}
        self._many_calls = many_calls
        self._trace_retain = trace_retain
        self._trace_sinks = trace_sinks
        self.destinations = destinations or DestinationPolicy.from_env()
        self._trace_words = trace_words
        self._call_type = call_type
        self._stt_workers_wanted = stt_workers
        self._stt_workers: SttWorkers | None = None
        self.signer = signer

    async def __aenter__(self) -> CallHost:
        if self._http is None:
            # One pooled client for every call's webhooks and the outbox; no
            # cookies, since calls must not share state through them.
            self._session = aiohttp.ClientSession(
                connector=connector(self.destinations, limit=0),
                cookie_jar=aiohttp.DummyCookieJar())
            self._http = AiohttpClient(self._session, policy=self.destinations,
                                       signer=self.signer)
        if self._outbox is None:
            self._outbox = MemoryOutbox(self._http)
        if self._many_calls:
            tune_gc_for_calls()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            await asyncio.wait({task})
        if isinstance(self._outbox, MemoryOutbox):
            await self._outbox.close()  # delivers what is left; the shared client stays
        for provider in self.providers.values():
            close = getattr(provider, "close", None)
            if close is not None:  # a provider owning an HTTP session
                await close()
        if self._session is not None:
            await self._session.close()
        if self._stt_workers is not None:
            self._stt_workers.close()

    def recognizer(self, vocabulary: Vocabulary) -> SttProvider | Recognizer:
        """The embedded recognizer for a flow's vocabulary: on the media tick,
        or in the host's worker processes when it has any."""
        from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider

        if not self._stt_workers_wanted:
            return PocketsphinxProvider(vocabulary, pool_size=1)
        if self._stt_workers is None:
            from interpreter.media.recognition import SttWorkers

            self._stt_workers = SttWorkers(self._stt_workers_wanted)
        factory = functools.partial(PocketsphinxProvider, vocabulary, pool_size=2)
        return self._stt_workers.recognizer(vocabulary.key, factory,
                                            PocketsphinxProvider.sample_rate)

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("the host is not started (use `async with CallHost()`)")
        return self._outbox

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            raise RuntimeError("the host is not started (use `async with CallHost()`)")
        return self._http

    # ------------------------------------------------------------ flows

    def compile(self, raw: bytes, name: str) -> ir.CompiledFlow:
        """Load, lint and compile; DocumentError with diagnostics when it is bad."""
        flow, warnings = compile_flow(load_document(raw, name))
        for warning in warnings:
            if self.warnings is not None:
                print(str(warning), file=self.warnings)
        return flow

    async def fetch_document(self, url: str, call_info: Mapping[str, JSONValue]) -> bytes:
        """Fetch a SWML document the way the hosted platform does (SignalWire's remote
        SWML fetch):
        POST the call's details as JSON, Basic auth from the URL's credentials."""
        body: dict[str, JSONValue] = {"call": dict(call_info), "vars": {}, "envs": {},
                                      "params": {}}
        target = split_credentials(url)
        headers = {"Authorization": basic_auth(target.user, target.password)} \
            if target.user else {}
        request = HttpRequest.json("POST", target.url, body, headers=headers,
                                   timeout=FETCH_TIMEOUT, max_bytes=MAX_DOCUMENT_BYTES)
        try:
            response = await self.http.send(request)
        except HttpError as error:
            raise FlowUnavailable(f"{target.url}: {error}") from None
        if not response.ok:
            raise FlowUnavailable(f"{target.url}: HTTP {response.status}")
        return response.body

    def flow_loader(self, base: Path | None,
                    call_info: Mapping[str, JSONValue]) -> FlowLoader:
        """Resolves transfer destinations that are not sections: inline SWML,
        URLs (fetched like the hosted platform does, under the destination
        policy), and flow files in the running flow's own folder — never a
        path outside it (a tool's SWML action could name any file)."""

        async def load(dest: str) -> ir.CompiledFlow:
            if dest.lstrip().startswith("{"):  # inline SWML (a `transfer` dest)
                return self.compile(dest.encode("utf-8"), "<inline SWML>")
            if dest.startswith(("http://", "https://")):
                return self.compile(await self.fetch_document(dest, call_info), dest)
            if base is not None:
                folder = base.resolve()
                candidate = (folder / dest).resolve()
                if not candidate.is_relative_to(folder):
                    raise LookupError(f'"{dest}" is outside the flow\'s folder: transfers '
                                      "load only flows beside the running one")
                if candidate.is_file() and candidate.suffix in (".yaml", ".yml", ".json"):
                    return self.compile(candidate.read_bytes(), str(candidate))
            raise LookupError(f'no section, flow file or URL "{dest}"')

        return load

    # ------------------------------------------------------------ calls

    def llm(self, name: str | None = None) -> LlmProvider:
        name = name or self.default_llm
        provider = self.providers.get(name)
        if provider is None:
            raise LookupError(f'no LLM provider "{name}" (have: '
                              f'{", ".join(sorted(self.providers)) or "none"})')
        return provider

    def start_call(self, flow: ir.CompiledFlow, channel: CallerChannel, telephony: Telephony,
                   *, call_id: str | None = None,
                   call_info: Mapping[str, JSONValue] | None = None,
                   base: Path | None = None, llm: LlmProvider | None = None,
                   mocks: Mapping[str, ToolMock] | None = None,
                   start: tuple[str, str | None] | None = None,
                   trace_path: str | Path | None = None) -> Call:
        """Start a call as a task; it is live in `calls` until it ends."""
        call_id = call_id or str(uuid.uuid4())
        info = dict(call_info or {})
        model = llm if llm is not None else self.providers.get(self.default_llm)
        tools = MockRunner(mocks) if mocks else None
        call = self._call_type(
            flow, channel, telephony, call_id=call_id, call_info=info,
            trace_path=trace_path or (self._trace_path(call_id) if self._trace_sinks is None
                                      else None),
            trace_sink=self._trace_sinks(call_id) if self._trace_sinks is not None
            and trace_path is None else None,
            trace_retain=self._trace_retain, flow_loader=self.flow_loader(base, info),
            ai_runner=runner(model, tools=tools, start=start) if model is not None else None,
            http=self._http, outbox=self._outbox)
        call.trace_words = self._trace_words
        self.calls[call.call_id] = call
        task = asyncio.get_running_loop().create_task(self._run(call),
                                                      name=f"call:{call.call_id}")
        self._tasks[call.call_id] = task
        return call

    async def run_call(self, flow: ir.CompiledFlow, channel: CallerChannel,
                       telephony: Telephony, **options: Any) -> Call:
        """Start a call and wait until it has ended."""
        return await self.wait(self.start_call(flow, channel, telephony, **options))

    async def wait(self, call: Call) -> Call:
        """Wait until `call` has ended (at once if it already has)."""
        task = self._tasks.get(call.call_id)
        if task is not None:
            await asyncio.wait({task})
        return call

    async def _run(self, call: Call) -> Call:
        try:
            await call.run()
        finally:
            self.calls.pop(call.call_id, None)
            self._tasks.pop(call.call_id, None)
        return call

    def post(self, call_id: str, event: ev.Event) -> bool:
        """A command to a live call, through its inbox; False when it is not live."""
        call = self.calls.get(call_id)
        if call is None:
            return False
        call.post(event)
        return True

    def live(self) -> list[Call]:
        return list(self.calls.values())

    def _trace_path(self, call_id: str) -> Path | None:
        if self.trace_dir is None:
            return None
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        return self.trace_dir / f"{call_id}.jsonl"
