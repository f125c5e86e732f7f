"""callkernel's command line: `callkernel COMMAND ...`, `python -m interpreter
COMMAND ...`, or `python cli.py COMMAND ...` from a checkout.

Every command's `--help` ends with its exit codes and the environment
variables it reads; docs/cli.md says the same at more length.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from interpreter.commands import compile as compile_command
from interpreter.commands import console as console_command
from interpreter.commands import demo as demo_command
from interpreter.commands import demo_phone as demo_phone_command
from interpreter.commands import describe as describe_command
from interpreter.commands import lint as lint_command
from interpreter.commands import remote as remote_command
from interpreter.commands import remote_calls, remote_client
from interpreter.commands import routes as routes_command
from interpreter.commands import run as run_command
from interpreter.commands import serve as serve_command
from interpreter.commands import test as test_command
from interpreter.commands import token as token_command
from interpreter.commands import trace as trace_command
from interpreter.document.schema import schema_text
from interpreter.server import config as server_config
from interpreter.server.store import Scope

DOCS = "docs/cli.md"

# The variables commands read, by name, with what each does: one place, so
# every --help names the same ones the same way.
ENVIRONMENT = {
    "CALLKERNEL_LLM_BASE_URL": "the OpenAI-compatible server for --llm openai "
    "(also OPENAI_BASE_URL; default https://api.openai.com/v1)",
    "CALLKERNEL_LLM_API_KEY": "its API key (also OPENAI_API_KEY; a local server needs none)",
    "CALLKERNEL_LLM_MODEL": "the model to ask for when the document names none "
    "(default gpt-4o-mini)",
    "CALLKERNEL_LLM_MODEL_MAP": "document model names to served ones, "
    "e.g. gpt-4o-mini=llama3.1:8b,*=llama3.1:8b",
    "CALLKERNEL_ALLOW_LOOPBACK": "1: requests may go to loopback addresses (development)",
    "CALLKERNEL_ALLOW_PRIVATE_NETWORKS": "1: requests may go to private network addresses",
    "CALLKERNEL_WEBHOOK_SIGNING_KEY": "signs outbound webhook bodies (X-Callkernel-Signature)",
    "CALLKERNEL_RECORDINGS": "the folder audio calls' record verbs write to (default: "
    "callkernel-recordings in the system's temporary folder)",
    "CALLKERNEL_STT_WORKERS": "run --audio --real-time: speech recognition in this many "
    "worker processes instead of on the media tick (default 0)",
}
LLM_VARIABLES = ("CALLKERNEL_LLM_BASE_URL", "CALLKERNEL_LLM_API_KEY", "CALLKERNEL_LLM_MODEL",
                 "CALLKERNEL_LLM_MODEL_MAP")
# Read by whatever fetches a URL (a flow, a webhook, a summary): interpreter/destinations.py.
DESTINATION_VARIABLES = ("CALLKERNEL_ALLOW_LOOPBACK", "CALLKERNEL_ALLOW_PRIVATE_NETWORKS")
CALL_VARIABLES = (*DESTINATION_VARIABLES, "CALLKERNEL_WEBHOOK_SIGNING_KEY",
                  "CALLKERNEL_RECORDINGS", "CALLKERNEL_STT_WORKERS")
# The server's own (CALLKERNEL_SERVER_*) live with its settings table in
# interpreter/server/config.py, which docs/operations.md lists row by row.
SERVER_VARIABLES = tuple(server_config.ENVIRONMENT)
TOKEN_VARIABLES = (server_config.CONFIG_VARIABLE, "CALLKERNEL_SERVER_DATA_DIR")
# What the server's clients read: push, flows, versions, publish, rollback,
# delete, routes, diff, bind, unbind, start, calls, call, outbox and trace --server.
CLIENT_VARIABLES = tuple(remote_client.ENVIRONMENT)
SERVER_DOCS = "docs/cli.md, docs/operations.md"

USAGE_EXIT = (2, "usage error, or unreadable input (missing file, permission denied, "
              "a URL that cannot be fetched)")


def _epilog(codes: Sequence[tuple[int, str]], variables: Sequence[str] = (),
            docs: str = DOCS) -> str:
    """The end of a command's --help: exit codes, environment, where the docs are."""
    lines = ["exit codes:"]
    lines += [f"  {code}  {meaning}" for code, meaning in codes]
    if variables:
        lines.append("environment:")
        known = {**ENVIRONMENT, **server_config.ENVIRONMENT, **remote_client.ENVIRONMENT}
        lines += [f"  {name}  {known[name]}" for name in variables]
    else:
        lines.append("environment: reads no variables")
    lines.append(f"docs: {docs}")
    return "\n".join(lines)


def version() -> str:
    """The installed distribution's version, else the checkout's pyproject.toml."""
    try:
        return metadata.version("callkernel")
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    def command(name: str, summary: str, description: str, epilog: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    parser = argparse.ArgumentParser(
        prog="callkernel", description="Lint, compile and run SWML-compatible voice-AI flows.",
        epilog="Each command's --help lists its exit codes and the environment variables it "
        f"reads.\ndocs: {DOCS}, docs/flow-language.md, docs/lint-rules.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"callkernel {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lint = command(
        "lint", "check flow documents and print diagnostics",
        "Check flow documents (YAML or JSON) and print one diagnostic per line, sorted by "
        "position: FILE:LINE:COL: SEVERITY CODE message. The count goes to standard error. "
        "A caller script (*.caller.yaml), scripted-model rules (*.model.yaml) or a flow test "
        "(*.test.yaml) named as a PATH is checked as what it is.",
        _epilog([(0, "no errors (and, with --strict, no warnings)"),
                 (1, "a document has errors (or, with --strict, warnings)"), USAGE_EXIT],
                DESTINATION_VARIABLES, docs="docs/cli.md, docs/lint-rules.md"))
    lint.add_argument("paths", nargs="+", metavar="PATH",
                      help="flow files, directories (searched for .yaml/.yml/.json), http(s) "
                      "URLs, or - for standard input")
    lint.add_argument("--format", choices=("text", "json"), default="text",
                      help="text (default) or json for machines")
    lint.add_argument("--strict", action="store_true", help="warnings fail the run too")
    lint.add_argument("--context", action="store_true",
                      help="show the source line and a caret under each diagnostic")
    lint.add_argument("--max-bytes", type=int, metavar="N",
                      help="refuse documents larger than N bytes (default 2 MiB)")

    compile_parser = command(
        "compile", "print the normalized compiled flow and its content hash",
        "Lint and compile FILE; print the normalized flow as JSON with a stable key order and "
        "its content hash (the version identity). Warnings go to standard error.",
        _epilog([(0, "compiled"), (1, "the document has errors"), USAGE_EXIT],
                DESTINATION_VARIABLES))
    compile_parser.add_argument("file", metavar="FILE",
                                help="a flow file, an http(s) URL, or - for stdin")
    compile_parser.add_argument("--hash", action="store_true", dest="hash_only",
                                help="print only the content hash")
    compile_parser.add_argument("--max-bytes", type=int, metavar="N",
                                help="refuse documents larger than N bytes (default 2 MiB)")

    describe = command(
        "describe", "summarise flows: sections, contexts, steps and tools",
        "Lint and compile each flow and print a readable summary: the methods of each "
        "section, each ai verb's contexts, steps and tools.",
        _epilog([(0, "every flow compiled"), (1, "a document has errors"), USAGE_EXIT],
                DESTINATION_VARIABLES))
    describe.add_argument("paths", nargs="+", metavar="PATH",
                          help="flow files, directories, or http(s) URLs (fetched the way "
                          "the hosted platform fetches documents)")

    run = command(
        "run", "run one call with a simulated caller, on text media or (--audio) audio",
        "Run FLOW (a file, or an http(s) URL fetched the way the hosted platform fetches "
        "documents) against the caller script SCRIPT, and print the conversation with "
        "timestamps. Time is virtual unless --real-time is given. See docs/caller-scripts.md.",
        _epilog([(0, "the call ran and ended without a fatal error"),
                 (1, "the flow, the caller script or the model rules have errors"),
                 (2, "usage error, unreadable input, a flow URL that cannot be fetched, "
                  "or --llm openai not configured"),
                 (3, "the call ended on a fatal error (disposition error:..., or an error "
                  "record with fatal: true; a flow whose ai verb has no model ends so)")],
                (*LLM_VARIABLES, *CALL_VARIABLES), docs="docs/cli.md, docs/llm-providers.md"))
    run.add_argument("flow", metavar="FLOW", help="a flow file or an http(s) URL")
    run.add_argument("--caller", required=True, metavar="SCRIPT",
                     help="the caller script (YAML): what the caller says and does, and how "
                     "dialed destinations behave")
    run.add_argument("--trace", metavar="FILE",
                     help="write the call's trace as JSONL to FILE, replacing what it held")
    run.add_argument("--real-time", action="store_true",
                     help="pace the call on the wall clock and print each line as it "
                     "happens, instead of virtual time with the conversation printed at "
                     "the end")
    run.add_argument("--json", action="store_true", dest="as_json",
                     help="print the conversation and final variables as JSON")
    run.add_argument("--llm", choices=("scripted", "openai"), default="scripted",
                     help="the model for ai verbs: scripted rules (default) or an "
                     "OpenAI-compatible server configured by the CALLKERNEL_LLM_* "
                     "variables below")
    run.add_argument("--model-script", metavar="RULES",
                     help="rules for --llm scripted (default: FLOW's <name>.model.yaml)")
    run.add_argument("--audio", action="store_true",
                     help="run the call on the audio media runtime: the agent speaks "
                     "through the embedded TTS, the caller's lines are spoken and heard by "
                     "VAD, endpointing and the embedded recognizer (see docs/speech.md)")
    run.add_argument("--record", metavar="WAV",
                     help="with --audio: write the call to WAV (stereo: caller left, agent "
                     "right), replacing what it held")
    run.add_argument("--transcribe", action="store_true",
                     help="with --audio: after the call, transcribe what the caller heard of "
                     "the agent with the embedded recognizer; a `heard` line under each "
                     "agent line, with its word error rate")
    run.add_argument("--timeline", metavar="PNG",
                     help="draw the call as a PNG: both sides' speech, barge-ins, tool "
                     "calls, steps and per-turn latency (text or audio calls)")

    console = command(
        "console", "talk to a flow from the terminal: you are the caller",
        "Run one call of FLOW on the wall clock with you as the caller: each line typed is "
        "said into the call, and what the agent says and the runtime does is printed as it "
        "happens, as `run --real-time` prints it. /digits 123# presses keys, /wait SECONDS "
        "stays silent, /hangup or Ctrl-D hangs up, /help lists these. Input that is not a "
        "terminal (a file, a pipe) is said line by line, each when the call is quiet (the "
        "agent has finished speaking, or waits for input); its end hangs up after the "
        "agent's answer to the last line.",
        _epilog([(0, "the call ran and ended without a fatal error"),
                 (1, "the flow, the caller script or the model rules have errors"),
                 (2, "usage error, unreadable input, a flow URL that cannot be fetched, "
                  "or --llm openai not configured"),
                 (3, "the call ended on a fatal error")],
                (*LLM_VARIABLES, *CALL_VARIABLES), docs="docs/cli.md, docs/llm-providers.md"))
    console.add_argument("flow", metavar="FLOW", help="a flow file or an http(s) URL")
    console.add_argument("--caller", metavar="SCRIPT",
                         help="a caller script for the numbers (from, to) and how dialed "
                         "destinations behave; its steps are not used")
    console.add_argument("--trace", metavar="FILE",
                         help="write the call's trace as JSONL to FILE, replacing what it held")
    console.add_argument("--llm", choices=("scripted", "openai"), default="scripted",
                         help="the model for ai verbs, as for run")
    console.add_argument("--model-script", metavar="RULES",
                         help="rules for --llm scripted (default: FLOW's <name>.model.yaml)")
    console.add_argument("--audio", action="store_true",
                         help="speak each line with the embedded TTS into the audio media "
                         "runtime, heard by VAD, endpointing and the embedded recognizer, as "
                         "`run --audio` does")
    recording = console.add_mutually_exclusive_group()
    recording.add_argument("--record", metavar="WAV",
                           help="with --audio: write the call to WAV (caller left, agent "
                           f"right; default {console_command.DEFAULT_RECORDING})")
    recording.add_argument("--no-record", action="store_true",
                           help="with --audio: do not record the call")
    console.add_argument("--timeline", metavar="PNG",
                         help="draw the call as a PNG when it ends, as for run")

    test = command(
        "test", "run flow tests (*.test.yaml)",
        "Run each flow test: a caller script with expectations and tool mocks (see "
        "docs/flow-tests.md). Reports pass/fail per expectation with the trace lines behind "
        "a failure.",
        _epilog([(0, "every test passed"), (1, "a test failed, or a file has errors"),
                 (2, "usage error, an unreadable path, or --llm openai not configured")],
                (*LLM_VARIABLES, *CALL_VARIABLES), docs="docs/cli.md, docs/flow-tests.md"))
    test.add_argument("paths", nargs="+", metavar="PATH",
                      help="test files, or directories searched for *.test.yaml")
    test.add_argument("--repeat", type=int, default=1, metavar="N",
                      help="run each test N times to expose flakiness")
    test.add_argument("--llm", choices=("scripted", "openai"), default="scripted",
                      help="the model: the scripted rules (default) or an OpenAI-compatible "
                      "server configured by the CALLKERNEL_LLM_* variables below")
    test.add_argument("--trace", metavar="DIR", dest="trace_dir",
                      help="write each test's trace to DIR/<test>.jsonl, replacing it")

    demo = command(
        "demo", "run the support flow end to end with a local tool webhook",
        "Start the demo SWAIG webhook on 127.0.0.1 (port 8765 unless --port), run the "
        "support flow that ships with callkernel against its caller script with the "
        "scripted model, and print the conversation, the tool calls served and the summary "
        "delivered. Works from any directory. Requests to loopback are allowed (the webhook "
        "listens there).",
        _epilog([(0, "the demo call ran and ended without a fatal error"),
                 (1, "a flow, caller script or model rules given have errors"),
                 (2, "usage error, unreadable input, or the port is in use"),
                 (3, "the call ended on a fatal error")],
                ("CALLKERNEL_ALLOW_PRIVATE_NETWORKS", "CALLKERNEL_WEBHOOK_SIGNING_KEY")))
    demo.add_argument("--flow", metavar="FLOW",
                      help="run this flow instead of the bundled support flow")
    demo.add_argument("--caller", metavar="SCRIPT",
                      help="the caller script (default: the bundled support caller)")
    demo.add_argument("--port", type=int, default=demo_command.PORT, metavar="PORT",
                      help="serve the webhook on this port (default %(default)s; 0 picks a "
                      "free one); the flow's http://127.0.0.1:8765/ URLs are pointed at it")
    demo.add_argument("--audio", action="store_true",
                      help="run the call on the audio media runtime (embedded TTS, VAD, "
                      "endpointing and speech recognition), as `run --audio` does")
    demo.add_argument("--record", metavar="WAV",
                      help="with --audio: write the call to WAV (caller left, agent right)")
    demo.add_argument("--transcribe", action="store_true",
                      help="with --audio: transcribe what the caller heard of the agent "
                      "(a `heard` line under each agent line, with its word error rate)")
    demo.add_argument("--timeline", metavar="PNG",
                      help="draw the call as a PNG: speech, barge-ins, tools, steps, latency")
    demo.add_argument("--webhook", action="store_true",
                      help="instead: serve the demo webhook alone (the tools and summary "
                      "receiver the example flows call) on 127.0.0.1 until Ctrl-C, for the "
                      "flows published to `callkernel serve --allow-loopback`")
    demo.add_argument("--phone", action="store_true",
                      help="instead: start the REST server in-process, publish the example "
                      "flows, and run the support call as a phone call through the "
                      "media-stream transport (a simulated Twilio with an eSpeak caller); "
                      "--record and --timeline write its audio and picture")

    trace = command(
        "trace", "print a call trace (JSONL) as a readable timeline",
        "Print a call's trace file, one line per record: seconds since the call started, "
        "the record kind, and its details. With --server URL, the argument is a call's id "
        "and its trace is read from that server (as `callkernel call ID --trace` reads it); "
        "only --server does that: without it the argument is a file, whatever "
        f"${remote_client.URL_VARIABLE} says.",
        _epilog([(0, "printed"), (1, "with --server: no such call"),
                 (2, "usage error, an unreadable file, or a line that is not a trace record "
                  "(its line number is given); with --server, as for `callkernel call`")],
                CLIENT_VARIABLES))
    trace.add_argument("file", metavar="FILE|ID",
                       help="a trace written by `callkernel run --trace`; or, with "
                       "--server, the id of a call on that server")
    trace.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                       help="only records of this kind (repeatable), e.g. --kind event")
    _client_flags(trace, json_help="for a call on a server: the records as JSON lines")

    serve = command(
        "serve", "run the REST server: flows over HTTP, with a store and tokens",
        "Serve the REST API (flows, routing, calls, the outbox) with its store in the data "
        "directory, until SIGTERM or SIGINT; then drain (no new calls; live ones get the "
        "drain timeout, then hear a goodbye and end), stop accepting, let the requests "
        "being handled finish up to the shutdown timeout, close the store and exit 0. "
        "Each setting "
        "comes from its flag, else the config file's [server] table, else its "
        "CALLKERNEL_SERVER_* variable, else its default. Logs go to standard error, one "
        "JSON object a line.",
        _epilog([(0, "stopped by SIGTERM or SIGINT"),
                 (2, "usage error, a bad setting or config file, a store that cannot be "
                  "opened, or an address that cannot be listened on")],
                SERVER_VARIABLES, docs=SERVER_DOCS))
    _config_flag(serve)
    for setting in server_config.SETTINGS:
        # A BOOL flag alone means true (`--allow-loopback`); `--allow-loopback false` too.
        switch = setting.metavar == "BOOL"
        serve.add_argument(setting.flag, dest=setting.key, metavar=setting.metavar,
                           help=setting.help, nargs="?" if switch else None,
                           const="true" if switch else None)

    token = command(
        "token", "create, list and revoke the server's API tokens",
        "Manage API tokens in the data directory's store (the server may be running). "
        "`token create NAME --scope SCOPE...` prints the token's id and its secret, once; "
        "`token list` shows every token (never a secret); `token revoke ID` makes its "
        "secret useless from the next request on. Run `token COMMAND --help` for each.",
        _epilog(_TOKEN_EXITS, TOKEN_VARIABLES, docs=SERVER_DOCS))
    token_commands = token.add_subparsers(dest="token_command", metavar="COMMAND",
                                          required=True)

    def token_command_parser(name: str, summary: str) -> argparse.ArgumentParser:
        parser = token_commands.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + ".",
            epilog=_epilog(_TOKEN_EXITS, TOKEN_VARIABLES, docs=SERVER_DOCS),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        _config_flag(parser)
        parser.add_argument("--data-dir", metavar="DIR",
                            help="the server's data directory (default ./callkernel-data)")
        return parser

    token_create = token_command_parser(
        "create", "make a token and print its id and secret (the secret only this once)")
    token_create.add_argument("name", metavar="NAME", help="what the token is for, e.g. ci")
    token_create.add_argument("--scope", action="append", dest="scopes", required=True,
                              choices=[scope.value for scope in Scope],
                              help="what it may do (repeatable): read, flows, calls, or "
                              "admin (everything, tokens included)")
    token_create.add_argument("--json", action="store_true", dest="as_json",
                              help="print the token and its secret as one JSON object")
    token_list = token_command_parser("list", "print every token, revoked ones marked")
    token_list.add_argument("--json", action="store_true", dest="as_json",
                            help="print the tokens as a JSON array")
    token_revoke = token_command_parser("revoke", "revoke a token by its id")
    token_revoke.add_argument("token_id", metavar="ID", help="the token's id (tok_...)")

    _add_client_commands(command)
    routes_command.add_parsers(command, _client_flags, _epilog(_CLIENT_EXITS, CLIENT_VARIABLES,
                                                               docs=SERVER_DOCS))
    _add_call_commands(command)

    command("schema", "print the JSON Schema of flow documents",
            "Print schemas/flow.schema.json (JSON Schema 2020-12).",
            _epilog([(0, "printed")]))
    return parser


_TOKEN_EXITS = [(0, "done"), (1, "revoke: no token with that id"),
                (2, "usage error, a bad setting or config file, or a store that cannot be "
                 "opened (list and revoke never create one)")]


_CLIENT_EXITS = [
    (0, "done"),
    (1, "the server refused what was asked: a document with errors (push prints its "
        "diagnostics as lint does), no such flow or version, a rollback not to an older "
        "version, a delete it refuses (the server's reason is printed)"),
    (2, "usage error, no server URL or token (or one ending in /v1), an unreadable file, "
        "the server unreachable or not answering in time, a token it does not accept (401) "
        "or without the scope (403), a reply that is not the API's, or delete without "
        "--yes")]


def _add_client_commands(
        command: Callable[[str, str, str, str], argparse.ArgumentParser]) -> None:
    """push, flows, versions, publish, rollback: the server's flows over REST."""
    epilog = _epilog(_CLIENT_EXITS, CLIENT_VARIABLES, docs=SERVER_DOCS)
    push = command(
        "push", "upload a flow to the server as a new version; --publish makes it live",
        "Upload FILE (.yaml, .yml or .json) to the server as the next version of flow NAME "
        "(default: the file's name without its extension, lowercased). The server lints "
        "and compiles it: its diagnostics are printed exactly as `callkernel lint FILE` "
        "prints them, then `pushed NAME version N (sha256:...)`. A document with errors is "
        "not stored.", epilog)
    push.add_argument("file", metavar="FILE", help="the flow file")
    push.add_argument("--name", metavar="NAME",
                      help="the flow's name on the server (1 to 64 of a-z, 0-9, _ and -)")
    push.add_argument("--publish", action="store_true",
                      help="make the version live once it is stored")
    _client_flags(push)

    flows = command("flows", "list the server's flows",
                    "Print the server's flows: name, how many versions, the latest, the "
                    "live one (- when none is published) and when it last changed.", epilog)
    _client_flags(flows, json_help="print the server's JSON answer")

    versions = command("versions", "list a flow's versions on the server",
                       "Print a flow's versions, oldest first: number, whether it is live, "
                       "when it was pushed, its size, its lint warnings and its content hash.",
                       epilog)
    versions.add_argument("name", metavar="NAME", help="the flow's name")
    _client_flags(versions, json_help="print the server's JSON answer")

    for name, summary, description in (
            ("publish", "make a version of a flow live on the server",
             "Make VERSION of flow NAME the live one: calls started from now on run it; "
             "calls already running keep the version they started with."),
            ("rollback", "make an earlier version of a flow live again",
             "Make VERSION, older than the live one, live again (atomically: if another "
             "publish got in first, the server refuses with 409 and nothing changes). "
             "A version that is already live, or a flow with none live, is refused "
             "(exit 1): to move forward, or to make a first version live, use publish.")):
        parser = command(name, summary, description, epilog)
        parser.add_argument("name", metavar="NAME", help="the flow's name")
        parser.add_argument("version", metavar="VERSION", type=int,
                            help="the version number (1, 2, ...)")
        _client_flags(parser)

    delete = command(
        "delete", "delete a flow and all its versions on the server",
        "Delete flow FLOW and every version of it (the server refuses while a live call "
        "runs it or a route names it). It cannot be undone, so without --yes it only says "
        "what would be deleted and exits 2. A flow bound to a URL is removed with unbind.",
        epilog)
    delete.add_argument("flow", metavar="FLOW", help="the flow's name")
    delete.add_argument("--yes", action="store_true",
                        help="delete it (without: print what would be deleted, exit 2)")
    _client_flags(delete)


_CALL_EXITS = [
    (0, "done (start --wait: the call ended without a fatal error)"),
    (1, "the server refused what was asked: no such flow, version or call, a caller script "
        "or model rules with errors (printed as lint prints them), a command (hangup, say, "
        "transfer, unhold, inject) to a call that has ended or cannot take it (the server's "
        "reason is printed)"),
    _CLIENT_EXITS[2],
    (3, "start --wait: the call ended on a fatal error (disposition error:...)")]


def _add_call_commands(
        command: Callable[[str, str, str, str], argparse.ArgumentParser]) -> None:
    """start, calls, call: the calls the server runs, over REST."""
    start_epilog = _epilog(_CALL_EXITS, CLIENT_VARIABLES, docs=SERVER_DOCS)
    epilog = _epilog(_CALL_EXITS[:3], CLIENT_VARIABLES, docs=SERVER_DOCS)
    start = command(
        "start", "start a call of a flow on the server; prints its id",
        "Start a call of flow FLOW on the server (its live version, or --version N) with "
        "the caller script SCRIPT, as `callkernel run` runs one locally but in real time on "
        "the server; print the call's id. With --wait, poll until it ends and print its "
        "state, as `callkernel call ID` does.", start_epilog)
    start.add_argument("flow", metavar="FLOW", nargs="?",
                       help="the flow's name on the server (left out: the server's routing "
                       "table picks one by the script's `to` and --param)")
    start.add_argument("--caller", required=True, metavar="SCRIPT",
                       help="the caller script (YAML), sent with the request")
    start.add_argument("--model", metavar="RULES",
                       help="scripted-model rules (YAML) for the flow's ai verbs")
    start.add_argument("--version", type=int, metavar="N",
                       help="run version N rather than the live one")
    start.add_argument("--audio", action="store_true",
                       help="run the call on the audio media runtime (the caller speaks "
                       "with eSpeak and is heard by the embedded recognizer)")
    start.add_argument("--virtual", action="store_true",
                       help="run it on a virtual clock, as fast as the CPU allows (as "
                       "`callkernel run` does; it takes no commands)")
    start.add_argument("--param", action="append", dest="params", default=[],
                       metavar="KEY=VALUE",
                       help="a custom parameter for routing, as a media-stream transport "
                       "carries them (repeatable)")
    start.add_argument("--wait", action="store_true",
                       help="wait until the call ends and print its state")
    _client_flags(start, json_help="print the server's JSON record of the call")

    calls = command(
        "calls", "list the calls on the server",
        "Print the calls the server ran, newest first, from its store (they survive "
        "restarts): id, flow, version, state, disposition, when it started. A column with "
        "nothing to say shows -: no flow (no route matched), no version (a flow bound to "
        "a URL), no disposition (still live).",
        epilog)
    calls.add_argument("--flow", metavar="NAME", help="only calls of this flow")
    calls.add_argument("--state", choices=("live", "ended"), help="only live or ended calls")
    calls.add_argument("--since", metavar="TIME",
                       help="only calls started at or after TIME: seconds since the epoch or "
                       "ISO 8601 (UTC unless it names a zone), e.g. 2025-06-01T09:00")
    calls.add_argument("--until", metavar="TIME",
                       help="only calls started before TIME (as --since)")
    calls.add_argument("--limit", type=int, metavar="N",
                       help="at most N calls (the server's default and cap apply)")
    _client_flags(calls, json_help="print the server's JSON answer")

    call = command(
        "call", "show, trace or hang up one call on the server",
        "Print call ID's state: its flow and version, live (with the runtime's state) or "
        "ended, its disposition, when it started and ended. --trace prints its trace so far "
        "as `callkernel trace FILE` prints a file; --hangup asks a live call to hang up; "
        "--say, --transfer, --unhold and --inject send it a command (it runs at the call's "
        "next safe point).",
        epilog)
    call.add_argument("call_id", metavar="ID", help="the call's id (callkernel calls lists "
                      "them)")
    doing = call.add_mutually_exclusive_group()
    doing.add_argument("--trace", action="store_true",
                       help="print the call's trace records, one line each")
    doing.add_argument("--hangup", action="store_true",
                       help="hang the call up (exit 1 if it has ended)")
    doing.add_argument("--say", metavar="TEXT",
                       help="have the agent say TEXT to the caller, after what it is saying")
    doing.add_argument("--transfer", metavar="DEST",
                       help="transfer the call to a section of its flow, a number or a SIP "
                       "address (an ai session in progress ends)")
    doing.add_argument("--unhold", action="store_true",
                       help="take the call off the ai verb's hold (exit 1 if not on hold)")
    doing.add_argument("--inject", metavar="JSON",
                       help="inject an event, e.g. '{\"event\": \"leg_answered\", "
                       "\"leg_id\": \"leg-2\"}' (docs/rest-api.md lists them)")
    call.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                      help="with --trace: only records of this kind (repeatable)")
    _client_flags(call, json_help="print the server's JSON record; with --trace, the "
                  "records as JSON lines (the file `run --trace` writes)")


    outbox = command(
        "outbox", "list the server's post-call deliveries, or show or retry one",
        "Print the summaries and status callbacks the server's outbox holds, newest first: "
        "key, call, kind, state (pending, delivered, failed, kept), attempts, the last "
        "problem, when it last changed. With KEY, print that delivery with its summary; "
        "with KEY --retry, retry a failed one by hand (a new round of attempts).",
        epilog)
    outbox.add_argument("key", metavar="KEY", nargs="?", help="one delivery's key")
    outbox.add_argument("--state", choices=("pending", "delivered", "failed", "kept"),
                        help="only deliveries in this state")
    outbox.add_argument("--call", dest="call_id", metavar="ID",
                        help="only this call's deliveries")
    outbox.add_argument("--retry", action="store_true",
                        help="with KEY: retry it now (exit 1 if it was delivered)")
    _client_flags(outbox, json_help="print the server's JSON answer")


def _client_flags(parser: argparse.ArgumentParser, json_help: str | None = None) -> None:
    parser.add_argument("--server", metavar="URL",
                        help=f"the server's base URL (default: ${remote_client.URL_VARIABLE})")
    parser.add_argument("--token", metavar="TOKEN",
                        help=f"the API token (default: ${remote_client.TOKEN_VARIABLE}; "
                        "the variable keeps it out of the process list and shell history)")
    parser.add_argument("--timeout", type=float, default=remote_client.DEFAULT_TIMEOUT,
                        metavar="SECONDS",
                        help="give up on a request after this long (default %(default)g)")
    if json_help is not None:
        parser.add_argument("--json", action="store_true", dest="as_json", help=json_help)


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="a TOML config file; settings in its [server] table (default: "
                        f"${server_config.CONFIG_VARIABLE}, else none)")


def main(argv: list[str] | None = None) -> int:
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # here, where a closed pipe can still be handled
        return code
    except BrokenPipeError:
        # The reader went away (`callkernel trace t.jsonl | head`): not an error
        # of ours. Python flushes stdout once more at exit; send that to devnull.
        _discard_stdout()
        return 0
    except KeyboardInterrupt:
        print("callkernel: interrupted", file=sys.stderr)
        return 130


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests): nothing will be flushed to it
        pass


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    match args.command:
        case "lint":
            return lint_command.run(args.paths, fmt=args.format, strict=args.strict,
                                    context=args.context, max_bytes=args.max_bytes)
        case "compile":
            return compile_command.run(args.file, hash_only=args.hash_only,
                                       max_bytes=args.max_bytes)
        case "describe":
            return describe_command.run(args.paths)
        case "run":
            return run_command.run(args.flow, args.caller, trace_path=args.trace,
                                   real_time=args.real_time, as_json=args.as_json,
                                   llm=args.llm, model_script=args.model_script,
                                   audio=args.audio, record=args.record,
                                   timeline=args.timeline, transcribe=args.transcribe)
        case "console":
            return console_command.run(args.flow, caller_path=args.caller,
                                       trace_path=args.trace, llm=args.llm,
                                       model_script=args.model_script, audio=args.audio,
                                       record=args.record, no_record=args.no_record,
                                       timeline=args.timeline)
        case "test":
            return test_command.run(args.paths, repeat=max(args.repeat, 1), llm=args.llm,
                                    trace_dir=args.trace_dir)
        case "demo" if args.webhook and (args.phone or args.flow or args.caller or args.audio
                                         or args.transcribe or args.record or args.timeline):
            print("callkernel demo: --webhook only serves the webhook: it takes --port only",
                  file=sys.stderr)
            return 2  # usage
        case "demo" if args.webhook:
            return demo_command.serve_webhook(port=args.port)
        case "demo" if args.phone and (args.flow or args.caller or args.audio
                                       or args.transcribe):
            print("callkernel demo: --phone runs the bundled support call: it takes "
                  "--port, --record and --timeline only", file=sys.stderr)
            return 2  # usage
        case "demo" if args.phone:
            return demo_phone_command.run(port=args.port, record=args.record,
                                          timeline=args.timeline)
        case "demo":
            return demo_command.run(args.flow, args.caller, port=args.port, audio=args.audio,
                                    record=args.record, timeline=args.timeline,
                                    transcribe=args.transcribe)
        case "trace" if args.server is not None:
            server = remote_client.ServerFlags(args.server, args.token, args.timeout)
            return remote_calls.call_trace(args.file, kinds=args.kinds, as_json=args.as_json,
                                           flags=server, environ=os.environ)
        case "trace":
            return trace_command.run(args.file, kinds=args.kinds, environ=os.environ)
        case "serve":
            flags = {setting.key: getattr(args, setting.key)
                     for setting in server_config.SETTINGS}
            return serve_command.run(flags, os.environ, args.config)
        case "token":
            return _token(args)
        case "schema":
            sys.stdout.write(schema_text())
            return 0
        case "push" | "flows" | "versions" | "publish" | "rollback" | "delete":
            return _client(args)
        case "routes" | "diff" | "bind" | "unbind":
            return routes_command.dispatch(args)
        case "start" | "calls" | "call" | "outbox":
            return _calls(args)
    return 2


def _client(args: argparse.Namespace) -> int:
    flags = remote_client.ServerFlags(args.server, args.token, args.timeout)
    environ = os.environ
    match args.command:
        case "push":
            return remote_command.push(args.file, name=args.name, publish=args.publish,
                                       flags=flags, environ=environ)
        case "flows":
            return remote_command.flows(as_json=args.as_json, flags=flags, environ=environ)
        case "versions":
            return remote_command.versions(args.name, as_json=args.as_json, flags=flags,
                                           environ=environ)
        case "publish":
            return remote_command.publish(args.name, args.version, flags=flags,
                                          environ=environ)
        case "rollback":
            return remote_command.rollback(args.name, args.version, flags=flags,
                                           environ=environ)
        case "delete":
            return remote_command.delete(args.flow, yes=args.yes, flags=flags,
                                         environ=environ)
    return 2


def _calls(args: argparse.Namespace) -> int:
    flags = remote_client.ServerFlags(args.server, args.token, args.timeout)
    environ = os.environ
    match args.command:
        case "start":
            return remote_calls.start(args.flow, args.caller, model=args.model,
                                      version=args.version, audio=args.audio,
                                      virtual=args.virtual, params=args.params,
                                      wait=args.wait,
                                      as_json=args.as_json, flags=flags, environ=environ)
        case "calls":
            return remote_calls.calls(flow=args.flow, state=args.state, since=args.since,
                                      until=args.until, limit=args.limit,
                                      as_json=args.as_json, flags=flags, environ=environ)
        case "call" if args.hangup:
            return remote_calls.hang_up(args.call_id, flags=flags, environ=environ)
        case "call" if args.say is not None or args.transfer is not None or args.unhold \
                or args.inject is not None:
            return remote_calls.call_command(args.call_id, say=args.say,
                                             transfer=args.transfer, unhold=args.unhold,
                                             inject=args.inject, flags=flags,
                                             environ=environ)
        case "call" if args.trace:
            return remote_calls.call_trace(args.call_id, kinds=args.kinds,
                                           as_json=args.as_json, flags=flags,
                                           environ=environ)
        case "call":
            return remote_calls.show_call(args.call_id, as_json=args.as_json, flags=flags,
                                          environ=environ)
        case "outbox" if args.key is not None:
            return remote_calls.delivery(args.key, retry=args.retry, as_json=args.as_json,
                                         flags=flags, environ=environ)
        case "outbox" if args.retry:
            print("callkernel outbox: --retry needs a KEY (callkernel outbox lists them)",
                  file=sys.stderr)
            return 2
        case "outbox":
            return remote_calls.outbox(state=args.state, call_id=args.call_id,
                                       as_json=args.as_json, flags=flags, environ=environ)
    return 2


def _token(args: argparse.Namespace) -> int:
    data_dir, config_path, environ = args.data_dir, args.config, os.environ
    match args.token_command:
        case "create":
            return token_command.create(args.name, args.scopes, as_json=args.as_json,
                                        data_dir=data_dir, config_path=config_path,
                                        environ=environ)
        case "list":
            return token_command.list_tokens(as_json=args.as_json, data_dir=data_dir,
                                             config_path=config_path, environ=environ)
        case "revoke":
            return token_command.revoke(args.token_id, data_dir=data_dir,
                                        config_path=config_path, environ=environ)
    return 2


if __name__ == "__main__":
    sys.exit(main())
