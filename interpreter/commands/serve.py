"""`callkernel serve`: the REST server, on aiohttp's AppRunner and TCPSite.

Opens the SQLite store in the data directory, starts the call host the
server's calls run on (with the server's destination policy and signing key,
so every outbound request of a call obeys the one and carries the other),
builds the app (server/app.py) and listens on the configured host and port
until SIGTERM or SIGINT. Then it drains: new calls are refused (503
`shutting-down`, and /readyz answers 503 so a balancer moves on) while live
calls get up to the drain timeout to end on their own; those still live then
hear a goodbye and are ended. Then it stops accepting connections, lets the
handlers running finish for up to the shutdown timeout (aiohttp cancels what
is left), flushes the outbox (what is not delivered stays in the store for
the next start), closes the host and the store, and exits 0. A second signal
during that changes nothing: the deadlines already bound the wait. A kill -9
loses nothing acknowledged: the next start records the calls it cut off as
ended by the crash and delivers what the outbox held.

Logs go to standard error, one JSON object a line (or plain text with
`--log-format text`): `time`, `level`, `message`, and for each request
`method`, `path`, `status`, `ms`. The "listening" line carries the bound
`host` and `port` (with `--port 0`, the one picked).

Exit codes: 0 stopped by a signal, 2 a bad setting or config file, a data
directory or store that cannot be opened, or an address that cannot be
listened on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from interpreter.host import CallHost
from interpreter.providers.llm.base import LlmProvider
from interpreter.server.app import build_app
from interpreter.server.calls import CALLS
from interpreter.server.config import ConfigError, ServerSettings, load_model_rules, resolve
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.events import CallEvents
from interpreter.server.media_routes import provider_credentials
from interpreter.server.metrics import CallMetrics
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import StoreError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one server per data directory by hand
    fcntl = None  # type: ignore[assignment]

EXIT_OK, EXIT_USAGE = 0, 2
LOCK_FILE = "server.lock"
LOGGER = logging.getLogger("callkernel.server")
ACCESS_LOGGER = logging.getLogger("callkernel.server.access")
# What a request line carries besides time, level and message, in this order.
REQUEST_FIELDS = ("method", "path", "status", "ms")


class ServerFailed(Exception):
    """The server could not start (its data directory, store or address)."""


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, message, then the
    record's `fields` (passed as `extra={"fields": {...}}`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record.created), "level": record.levelname.lower(),
            "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextLogFormatter(logging.Formatter):
    """`time level message key=value ...`, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        pairs = "".join(f" {key}={value}" for key, value in fields.items()) \
            if isinstance(fields, dict) else ""
        line = f"{_timestamp(record.created)} {record.levelname.lower()} " \
               f"{record.getMessage()}{pairs}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _timestamp(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class AccessLog(AbstractAccessLogger):
    """aiohttp's access log hook: one line a request, with its duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse,
            time: float) -> None:
        self.logger.info("request", extra={"fields": {
            "method": request.method, "path": request.path, "status": response.status,
            "ms": round(time * 1000, 2)}})


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request it cannot parse (a header over its limit, a
    broken request line) with a traceback whose message quotes the bytes it
    read — an Authorization header among them. Keep one line naming what was
    wrong, without the bytes: a token must never reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and record.name.startswith("aiohttp"):
            record.msg, record.args = "malformed request refused", ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.fields = {"error": type(exc).__name__, "status": exc.code}
        return True


def configure_logging(log_format: str, stream: TextIO) -> logging.Handler:
    """Send every logger's records (ours and aiohttp's) to `stream` in
    `log_format`; the handler installed, for removal."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(MalformedRequestFilter())
    handler.setFormatter(JsonLogFormatter() if log_format == "json" else TextLogFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def call_host(settings: ServerSettings, metrics: CallMetrics, events: CallEvents,
              outbox: StoreOutbox | None = None) -> CallHost:
    """The host the server's calls run on: its requests under the server's
    destination policy and signed with its key; its trace records feed the
    metrics, then the calls' followers (as build_app's own host would); its
    post-call work goes to the store's `outbox`."""
    # many_calls: full GC collections walk every live call's objects and stop
    # the loop for all of them; a server tunes them away (host.py).
    llm: dict[str, LlmProvider] = {}
    if settings.llm == "openai":  # resolve() checked the CALLKERNEL_LLM_* variables
        from interpreter.providers.llm.openai import OpenAIConfig, OpenAIProvider

        llm["openai"] = OpenAIProvider(OpenAIConfig.from_env(os.environ))
    elif settings.model_rules is not None:  # resolve() read them once already
        llm["rules"] = load_model_rules(settings.model_rules)
    return CallHost(trace_sinks=metrics.trace_sinks(events.trace_sinks()),
                    destinations=settings.destinations, signer=settings.signer,
                    outbox=outbox, many_calls=True, llm=llm,
                    default_llm=next(iter(llm), "scripted"))


@contextlib.contextmanager
def owning(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's lock while serving: one server per data
    directory. A starting server records every call the store says is live
    as ended by a crash, which is only true when no other server runs them.
    (An advisory lock, released by the OS when the process dies, so a kill -9
    never leaves a stale one; on systems without flock it is not taken.)"""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = (data_dir / LOCK_FILE).open("a")
    except OSError as error:
        raise ServerFailed(f"cannot use the data directory {data_dir}: "
                           f"{error.strerror or error}") from None
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ServerFailed(f"another server is using the data directory {data_dir} "
                                   "(one server per data directory: give this one its own "
                                   "--data-dir)") from None
        yield


async def serve(settings: ServerSettings, stop: asyncio.Event | None = None) -> None:
    """Serve the REST app on the data directory's store until `stop` is set,
    or (with none) until SIGTERM or SIGINT; then shut down gracefully and
    close the host and the store. ServerFailed when it cannot start."""
    with owning(settings.data_dir):
        try:
            store = await SqliteStore.open(settings.store_path)
        except StoreError as error:  # the message names the file and why
            raise ServerFailed(str(error)) from None
        metrics, events, outbox = CallMetrics(), CallEvents(), StoreOutbox(store)
        try:
            async with call_host(settings, metrics, events, outbox) as host:
                app = build_app(store, max_body_bytes=settings.max_body_bytes, host=host,
                                outbox=outbox, metrics=metrics, events=events,
                                max_live_calls=settings.max_live_calls,
                                providers=provider_credentials(os.environ))
                await run_app(app, settings, stop)
        finally:
            await store.close()
    LOGGER.info("stopped")


async def run_app(app: web.Application, settings: ServerSettings,
                  stop: asyncio.Event | None = None) -> None:
    """Listen with `app` on the settings' host and port until stopped; then
    stop accepting, give handlers running the shutdown timeout, clean up."""
    runner = web.AppRunner(app, access_log_class=AccessLog, access_log=ACCESS_LOGGER,
                           shutdown_timeout=settings.shutdown_timeout)
    await runner.setup()
    try:
        await _listen(runner, settings)
        reason = await _stopped(stop)
        LOGGER.info("stopping", extra={"fields": {
            "reason": reason, "drain_s": settings.drain_timeout,
            "deadline_s": settings.shutdown_timeout}})
        # While the calls drain the API still answers (new calls get 503
        # shutting-down, /readyz says not ready), so a balancer moves on.
        if CALLS in app:  # an app that runs calls
            await app[CALLS].drain(settings.drain_timeout)
    finally:
        # Closes the listening sockets first, then waits for handlers running
        # up to shutdown_timeout (cancelling what is left), then runs the
        # app's cleanup.
        await runner.cleanup()


async def _listen(runner: web.AppRunner, settings: ServerSettings) -> None:
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as error:
        raise ServerFailed(f"cannot listen on {settings.host}:{settings.port}: "
                           f"{error.strerror or error}") from None
    for address in runner.addresses:
        host, port = address[0], address[1]
        LOGGER.info("listening", extra={"fields": {
            "host": host, "port": port, "url": f"http://{_url_host(host)}:{port}/",
            "softphone": f"http://{_url_host(host)}:{port}/phone",
            # ai flows need one: without, their calls get the apology
            "llm": "rules" if settings.model_rules is not None else settings.llm,
            "data_dir": str(settings.data_dir), "signed": settings.signer is not None,
            "allow_loopback": settings.allow_loopback,
            "allow_private_networks": settings.allow_private_networks}})


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _stopped(stop: asyncio.Event | None) -> str:
    """Wait for `stop`, or for SIGTERM or SIGINT; what stopped it."""
    if stop is not None:
        await stop.wait()
        return "asked"
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()

    def on_signal(name: str) -> None:
        if not received.done():
            received.set_result(name)

    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, on_signal, number.name)
    try:
        return await received
    finally:
        # Keep the signals ignored through the shutdown (its deadline bounds
        # it); the default SIGINT handler would raise into the cleanup.
        for number in signals:
            loop.add_signal_handler(number, lambda: None)


def run(flags: Mapping[str, object | None], environ: Mapping[str, str],
        config_path: str | None = None, *, err: TextIO | None = None) -> int:
    """The `serve` command: resolve the settings, serve, return the exit code."""
    err = err or sys.stderr
    try:
        settings = resolve(flags, environ, Path(config_path) if config_path else None)
    except ConfigError as error:
        print(f"callkernel serve: {error}", file=err)
        return EXIT_USAGE
    handler = configure_logging(settings.log_format, err)
    try:
        asyncio.run(serve(settings))
    except ServerFailed as error:
        LOGGER.error(str(error))
        return EXIT_USAGE
    finally:
        logging.getLogger().removeHandler(handler)
    return EXIT_OK
