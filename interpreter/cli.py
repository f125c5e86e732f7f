"""callkernel's command line: `callkernel COMMAND ...` or `python cli.py COMMAND ...`."""

from __future__ import annotations

import argparse
import sys

from interpreter.commands import compile as compile_command
from interpreter.commands import demo as demo_command
from interpreter.commands import describe as describe_command
from interpreter.commands import lint as lint_command
from interpreter.commands import run as run_command
from interpreter.commands import test as test_command
from interpreter.commands import trace as trace_command
from interpreter.document.schema import schema_text

_EPILOG = """exit codes: 0 clean, 1 errors in a document, 2 usage error or unreadable input.
Docs: docs/cli.md, docs/flow-language.md, docs/lint-rules.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callkernel", description="Lint, compile and run SWML-compatible voice-AI flows.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lint = commands.add_parser(
        "lint", help="check flow documents and print diagnostics",
        description="Check flow documents (YAML or JSON) and print one diagnostic per line, "
        "sorted by position: FILE:LINE:COL: SEVERITY CODE message.", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    lint.add_argument("paths", nargs="+", metavar="PATH",
                      help="flow files, directories (searched for .yaml/.yml/.json), or - "
                      "for standard input")
    lint.add_argument("--format", choices=("text", "json"), default="text",
                      help="text (default) or json for machines")
    lint.add_argument("--strict", action="store_true", help="warnings fail the run too")
    lint.add_argument("--context", action="store_true",
                      help="show the source line and a caret under each diagnostic")
    lint.add_argument("--max-bytes", type=int, metavar="N",
                      help="refuse documents larger than N bytes (default 2 MiB)")

    compile_parser = commands.add_parser(
        "compile", help="print the normalized compiled flow and its content hash",
        description="Lint and compile FILE; print the normalized flow as JSON with a stable "
        "key order and its content hash (the version identity).", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compile_parser.add_argument("file", metavar="FILE", help="a flow file, or - for stdin")
    compile_parser.add_argument("--hash", action="store_true", dest="hash_only",
                                help="print only the content hash")
    compile_parser.add_argument("--max-bytes", type=int, metavar="N",
                                help="refuse documents larger than N bytes (default 2 MiB)")

    describe = commands.add_parser(
        "describe", help="summarise flows: sections, contexts, steps and tools",
        description="Lint and compile each flow and print a readable summary.")
    describe.add_argument("paths", nargs="+", metavar="PATH", help="flow files or directories")

    run = commands.add_parser(
        "run", help="run one call on the text media runtime with a simulated caller",
        description="Run FLOW (a file, or an http(s) URL fetched the way the hosted platform "
        "fetches documents) against the caller script SCRIPT, and print the conversation with "
        "timestamps. Time is virtual unless --real-time is given. See docs/caller-scripts.md.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("flow", metavar="FLOW", help="a flow file or an http(s) URL")
    run.add_argument("--caller", required=True, metavar="SCRIPT",
                     help="the caller script (YAML): what the caller says and does, and how "
                     "dialed destinations behave")
    run.add_argument("--trace", metavar="FILE", help="write the call's trace as JSONL")
    run.add_argument("--real-time", action="store_true",
                     help="pace the call on the wall clock instead of virtual time")
    run.add_argument("--json", action="store_true", dest="as_json",
                     help="print the conversation and final variables as JSON")
    run.add_argument("--llm", choices=("scripted", "openai"), default="scripted",
                     help="the model for ai verbs: scripted rules (default) or an "
                     "OpenAI-compatible server configured by CALLKERNEL_LLM_* variables")
    run.add_argument("--model-script", metavar="RULES",
                     help="rules for --llm scripted (default: FLOW's <name>.model.yaml)")

    test = commands.add_parser(
        "test", help="run flow tests (*.test.yaml) with the scripted model",
        description="Run each flow test: a caller script with expectations and tool mocks "
        "(see docs/flow-tests.md). Reports pass/fail per expectation with the trace lines "
        "behind a failure; exit 1 when any fails.", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    test.add_argument("paths", nargs="+", metavar="PATH",
                      help="test files, or directories searched for *.test.yaml")
    test.add_argument("--repeat", type=int, default=1, metavar="N",
                      help="run each test N times to expose flakiness")

    demo = commands.add_parser(
        "demo", help="run the support flow end to end with a local tool webhook",
        description="Start the demo SWAIG webhook on 127.0.0.1:8765, run the support flow "
        "against its caller script with the scripted model, and print the conversation.")
    demo.add_argument("--flow", default="flows/support.yaml", help="the flow to run")
    demo.add_argument("--caller", default="flows/support.caller.yaml",
                      help="the caller script")

    trace = commands.add_parser(
        "trace", help="print a call trace (JSONL) as a readable timeline",
        description="Print a call's trace file, one line per record: seconds since the "
        "call started, the record kind, and its details.")
    trace.add_argument("file", metavar="FILE", help="a trace written by `callkernel run --trace`")
    trace.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                       help="only records of this kind (repeatable), e.g. --kind event")

    commands.add_parser("schema", help="print the JSON Schema of flow documents",
                        description="Print schemas/flow.schema.json (JSON Schema 2020-12).")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        # The reader went away (`callkernel run ... | head`): not an error of ours.
        sys.stderr.close()
        return 0


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
                                   llm=args.llm, model_script=args.model_script)
        case "test":
            return test_command.run(args.paths, repeat=max(args.repeat, 1))
        case "demo":
            return demo_command.run(args.flow, args.caller)
        case "trace":
            return trace_command.run(args.file, kinds=args.kinds)
        case "schema":
            sys.stdout.write(schema_text())
            return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
