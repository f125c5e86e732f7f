"""`callkernel start|calls|call|outbox`: the calls a server runs and what
they leave behind, over REST v1 (docs/rest-api.md); the server, token and
exit codes are commands/remote_client.py's.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import quote

from interpreter.commands.inputs import UnreadableInput, read
from interpreter.commands.remote_client import (
    EXIT_FAULT,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Client,
    CommandFailed,
    Reply,
    ServerFlags,
    check_name,
    diagnostics_from,
    json_object,
    print_as_lint,
    run,
    when,
    with_query,
)
from interpreter.commands.sources import shown
from interpreter.runtime.trace import format_record
from interpreter.server.problems import PROBLEM_JSON

# Seconds between a waiting `start`'s looks at its call: calls run in real
# time on the server, so a few looks a second see the end soon enough.
POLL_INTERVAL = 0.2
CALL_PHASES = ("live", "ended")  # what GET /v1/calls?state= takes


def start(flow: str | None, caller: str, *, model: str | None = None,
          version: int | None = None, audio: bool = False, virtual: bool = False,
          params: Sequence[str] = (), wait: bool = False, as_json: bool = False,
          flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
          err: TextIO | None = None) -> int:
    """Start a call of FLOW (its live version, or `version`; with none, the
    one the server's routing table picks by the script's `to` and `params`,
    KEY=VALUE each) on the server, with the caller script file `caller` and
    scripted rules file `model`, on text media or `audio`, in real time or
    on a `virtual` clock; print the call's id. With `wait`, poll until it
    ends and print its state."""
    out, err = out or sys.stdout, err or sys.stderr
    texts: dict[str, str] = {}
    custom: dict[str, str] = {}

    def check() -> None:
        if flow is not None:
            check_name(flow, "FLOW")
        elif version is not None:
            raise CommandFailed(EXIT_USAGE, "--version needs FLOW (a routed call runs the "
                                            "live version of the flow its route names)")
        for pair in params:
            key, equals, value = pair.partition("=")
            if not equals or not key:
                raise CommandFailed(EXIT_USAGE, f"--param {pair!r}: KEY=VALUE")
            custom[key] = value
        if version is not None and version < 1:
            raise CommandFailed(EXIT_USAGE, f"--version {version}: a version number is "
                                            "1, 2, ...")
        texts["caller"] = _read_text(caller)
        if model is not None:
            texts["model"] = _read_text(model)

    async def action(client: Client) -> int:
        body: dict[str, Any] = {"flow": flow, "caller": texts["caller"],
                                "model": texts.get("model"),
                                "media": "audio" if audio else "text",
                                "clock": "virtual" if virtual else "real"}
        if version is not None:
            body["version"] = version
        if custom:
            body["params"] = custom
        reply = await client.command("/v1/calls", body)
        problem = json_object(reply, PROBLEM_JSON)
        if reply.status == 422 and problem is not None and "errors" in problem:
            # The server says which document it could not load; a local one is
            # printed as `callkernel lint` prints it, under the local name.
            detail = str(problem.get("detail", ""))
            local = (caller if detail.startswith("the caller script")
                     else model if detail.startswith("the model's rules") else None)
            if local is not None:
                print_as_lint(client.shaped(diagnostics_from, reply, problem["errors"],
                                            local), out, err)
                return EXIT_REFUSED
        record = client.expect(reply, 201)
        call_id = client.shaped(lambda: str(record["call_id"]), reply)
        print(f"started call {call_id} of "
              f"{_flow_said(record.get('flow'), record.get('version'))}", file=err)
        if not wait:
            print(json.dumps(record) if as_json else call_id, file=out)
            return EXIT_OK
        record = await _until_ended(client, call_id)
        _print_call(client, record, as_json, out)
        disposition = record.get("disposition")
        return EXIT_FAULT if str(disposition).startswith("error") else EXIT_OK

    return run("start", flags, environ, err, action, check)


async def _until_ended(client: Client, call_id: str) -> dict[str, Any]:
    while True:
        record = client.expect(await client.send("GET", _call_path(call_id)), 200)
        if record.get("state") == "ended":
            return record
        await asyncio.sleep(POLL_INTERVAL)


def calls(*, flow: str | None = None, state: str | None = None, since: str | None = None,
          until: str | None = None, limit: int | None = None, as_json: bool = False,
          flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
          err: TextIO | None = None) -> int:
    """Print the calls the server ran, newest first, from its store (across
    restarts), optionally of one flow, in one state, started from `since`
    until `until` (epoch seconds or ISO 8601, as the server reads them), at
    most `limit` of them."""
    out, err = out or sys.stdout, err or sys.stderr

    def check() -> None:
        if flow is not None:
            check_name(flow, "--flow")
        if state is not None and state not in CALL_PHASES:
            raise CommandFailed(EXIT_USAGE, f"--state {state}: live or ended")
        if limit is not None and limit < 1:
            raise CommandFailed(EXIT_USAGE, f"--limit {limit}: 1 or more")

    async def action(client: Client) -> int:
        # since and until go as given: the server reads both forms and says
        # what it cannot read (400, exit 1).
        path = with_query("/v1/calls", (
            ("flow", flow), ("state", state), ("since", since), ("until", until),
            ("limit", None if limit is None else str(limit))))
        count = await client.listing(path, "calls", _call_rows, (
            "ID", "FLOW", "VERSION", "STATE", "DISPOSITION", "STARTED"), out, as_json=as_json)
        if count is not None:
            print(f"{count} call(s)", file=err)
        return EXIT_OK

    return run("calls", flags, environ, err, action, check)


def show_call(call_id: str, *, as_json: bool = False, flags: ServerFlags,
              environ: Mapping[str, str], out: TextIO | None = None,
              err: TextIO | None = None) -> int:
    """Print one call's state: flow and version, live or ended, disposition, times."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", _call_path(call_id))
        _print_call(client, client.expect(reply, 200), as_json, out)
        return EXIT_OK

    return run("call", flags, environ, err, action, lambda: _check_call_id(call_id))


def hang_up(call_id: str, *, flags: ServerFlags, environ: Mapping[str, str],
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Ask a live call to hang up (the server refuses an ended one: 409, exit 1)."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        client.expect(await client.send("POST", _call_path(call_id) + "/hangup"), 202)
        # Accepted, not done: the call ends once its actor takes the request.
        print(f"call {call_id} is hanging up", file=out)
        return EXIT_OK

    return run("call", flags, environ, err, action, lambda: _check_call_id(call_id))


# What `call ID --say/--transfer/--unhold/--inject` print once the server
# accepted: accepted, not done (the call runs it at its next safe point).
_COMMAND_DONE = {"say": "will say it", "transfer": "will be transferred",
                 "unhold": "is coming off hold", "inject": "got the event"}


def call_command(call_id: str, *, say: str | None = None, transfer: str | None = None,
                 unhold: bool = False, inject: str | None = None, flags: ServerFlags,
                 environ: Mapping[str, str], out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """Send a live call the one command asked for (say, transfer, unhold or an
    injected event); the server refuses one to an ended call or one the call
    cannot take (409, exit 1) and a bad one (400, exit 1)."""
    out, err = out or sys.stdout, err or sys.stderr
    asked: list[tuple[str, dict[str, Any]]] = []

    def check() -> None:
        _check_call_id(call_id)
        asked.append(_command_body(say, transfer, unhold, inject))

    async def action(client: Client) -> int:
        name, body = asked[0]
        client.expect(await client.command(f"{_call_path(call_id)}/{name}", body), 202)
        print(f"call {call_id} {_COMMAND_DONE[name]}", file=out)
        return EXIT_OK

    return run("call", flags, environ, err, action, check)


def _command_body(say: str | None, transfer: str | None, unhold: bool,
                  inject: str | None) -> tuple[str, dict[str, Any]]:
    """The command (its path's last part) and JSON body; CommandFailed 2 for
    an --inject that is not a JSON object naming its event."""
    if say is not None:
        return "say", {"text": say}
    if transfer is not None:
        return "transfer", {"dest": transfer}
    if unhold or inject is None:
        return "unhold", {}
    try:
        event = json.loads(inject)
    except (ValueError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise CommandFailed(EXIT_USAGE, f"--inject is not JSON: {reason}") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise CommandFailed(EXIT_USAGE, "--inject takes a JSON object naming the event, "
                                        'e.g. \'{"event": "leg_answered", "leg_id": '
                                        '"leg-2"}\'')
    return "inject", event


def call_trace(call_id: str, *, kinds: list[str] | None = None, as_json: bool = False,
               flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """Print a call's trace so far as `callkernel trace FILE` prints a file;
    `as_json`: as JSON lines, the file `run --trace` writes."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", _call_path(call_id) + "/trace")
        if reply.status != 200:
            raise client.refusal(reply)
        records = client.shaped(_trace_records, reply, reply)
        if not records:
            # Silence would read as "nothing happened"; say why it can be.
            print(f"callkernel call: call {call_id} has no trace records: a call a server "
                  "crash cut off keeps none (its record shows server_crashed)", file=err)
            return EXIT_OK
        seen = {str(record["kind"]) for record in records}
        for record in records:
            if kinds and record["kind"] not in kinds:
                continue
            print(json.dumps(record, ensure_ascii=False) if as_json
                  else format_record(record), file=out)
        for kind in kinds or ():
            if kind not in seen:
                close = difflib.get_close_matches(kind, sorted(seen), n=1)
                print(f"callkernel call: no {kind!r} record in call {call_id}'s trace"
                      + (f" (did you mean {close[0]!r}?)" if close else ""), file=err)
        return EXIT_OK

    return run("call", flags, environ, err, action, lambda: _check_call_id(call_id))


def _trace_records(reply: Reply) -> list[dict[str, Any]]:
    """The records of a trace reply (a JSON array); ValueError if it is not one."""
    if reply.content_type != "application/json":
        raise ValueError("not JSON")
    records = json.loads(reply.body)
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("kind"), str)
            and isinstance(r.get("t"), int | float) for r in records):
        raise ValueError("not a list of trace records")
    return records


def _read_text(path: str) -> str:
    try:
        return read(path).decode("utf-8")
    except UnreadableInput as error:
        raise CommandFailed(EXIT_USAGE, str(error)) from None
    except UnicodeDecodeError:
        raise CommandFailed(EXIT_USAGE, f"{shown(path)}: not UTF-8 text") from None


def _check_call_id(call_id: str) -> None:
    if not call_id or not call_id.isprintable():
        raise CommandFailed(EXIT_USAGE, f"{call_id!r} is not a call id (callkernel calls "
                                        "lists them)")


def _call_path(call_id: str) -> str:
    return f"/v1/calls/{quote(call_id, safe='')}"


def _print_call(client: Client, record: dict[str, Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(record), file=out)
        return
    reply = Reply(200, "application/json", json.dumps(record).encode())
    for label, value in client.shaped(_call_lines, reply, record):
        print(f"{label:<12} {value}", file=out)


def _call_lines(record: dict[str, Any]) -> list[tuple[str, str]]:
    live = record["state"] == "live"
    ended_at, started_at = record["ended_at"], record["started_at"]
    took = (f" (after {ended_at - started_at:.1f} s)"
            if isinstance(ended_at, int | float) and isinstance(started_at, int | float)
            else "")
    return [("call", str(record["call_id"])),
            ("flow", _flow_said(record["flow"], record["version"])),
            ("state", f"live ({record['call_state']})" if live else str(record["state"])),
            ("disposition", str(record["disposition"] or "-")),
            ("started", when(started_at)),
            ("ended", "-" if live else when(ended_at) + took)]


def _flow_said(flow: object, version: object) -> str:
    """What a call ran: a flow's version, a flow bound to a URL (its document
    is fetched, so it has no version), or nothing when no route matched."""
    if flow is None:
        return "no flow (no route)"
    if version is None:
        return f"{flow} (bound to a URL)"
    return f"{flow} version {version}"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _call_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(c["call_id"]), _dash(c["flow"]), _dash(c["version"]), str(c["state"]),
             str(c["disposition"] or "-"), when(c["started_at"])) for c in listed]


# ------------------------------------------------------------ outbox

DELIVERY_STATES = ("pending", "delivered", "failed", "kept")  # GET /v1/outbox?state=


def outbox(*, state: str | None = None, call_id: str | None = None, as_json: bool = False,
           flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
           err: TextIO | None = None) -> int:
    """Print the server's post-call deliveries, newest first."""
    out, err = out or sys.stdout, err or sys.stderr

    def check() -> None:
        if state is not None and state not in DELIVERY_STATES:
            raise CommandFailed(EXIT_USAGE, f"--state {state}: one of "
                                            f"{', '.join(DELIVERY_STATES)}")
        if call_id is not None:
            _check_call_id(call_id)

    async def action(client: Client) -> int:
        path = with_query("/v1/outbox", (("state", state), ("call_id", call_id)))
        count = await client.listing(path, "deliveries", _delivery_rows, (
            "KEY", "CALL", "KIND", "STATE", "ATTEMPTS", "LAST", "UPDATED"), out, as_json=as_json)
        if count is not None:
            print(f"{count} deliver{'y' if count == 1 else 'ies'}", file=err)
        return EXIT_OK

    return run("outbox", flags, environ, err, action, check)


def delivery(key: str, *, retry: bool = False, as_json: bool = False, flags: ServerFlags,
             environ: Mapping[str, str], out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    """Print one delivery (its body and summary too); with `retry`, retry it
    by hand (the server refuses one delivered: 409, exit 1)."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        path = f"/v1/outbox/{quote(key, safe='')}"
        if retry:
            client.expect(await client.send("POST", path + "/retry"), 202)
            print(f"delivery {key} is due again", file=out)
            return EXIT_OK
        reply = await client.send("GET", path)
        shown_delivery = client.expect(reply, 200)
        if as_json:
            print(reply.body.decode(), file=out)
            return EXIT_OK
        for label, value in client.shaped(_delivery_lines, reply, shown_delivery):
            print(f"{label + ':':<10}{value}", file=out)
        return EXIT_OK

    def check() -> None:
        if not key or not key.isprintable():
            raise CommandFailed(EXIT_USAGE, f"{key!r} is not a delivery key (callkernel "
                                            "outbox lists them)")

    return run("outbox", flags, environ, err, action, check)


LAST_WIDTH = 40  # the table's LAST column; `outbox KEY` prints it whole


def _last(d: dict[str, Any]) -> str:
    status = f"HTTP {d['last_status']}" if d["last_status"] is not None else ""
    return shown(str(d["last_error"] or status or "-"))


def _delivery_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    def cut(text: str) -> str:
        return text if len(text) <= LAST_WIDTH else text[:LAST_WIDTH - 3] + "..."

    return [(str(d["key"]), str(d["call_id"]), str(d["kind"]), str(d["state"]),
             str(d["attempts"]), cut(_last(d)), when(d["updated_at"])) for d in listed]


def _delivery_lines(d: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [("key", str(d["key"])), ("call", str(d["call_id"])), ("kind", str(d["kind"])),
             ("url", shown(str(d["url"] or "- (kept only)"))), ("state", str(d["state"])),
             ("attempts", str(d["attempts"])), ("last", _last(d))]
    if d["next_attempt_at"] is not None:
        lines.append(("next", when(d["next_attempt_at"])))
    if d.get("summary") is not None:
        lines.append(("summary", shown(str(d["summary"]))))
    return lines
