"""`callkernel trace FILE`: a call's JSONL trace as a readable timeline.

Records are printed as they are read, so a long trace piped into `head`
starts at once. A line that is not a trace record — not UTF-8 (a binary
file), not JSON, not an object with a numeric `t` and a `kind`, or longer
than any record — stops the command with its line number (exit 2).
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, TextIO

from interpreter.runtime.trace import format_record

# remote_client.URL_VARIABLE, named here so that reading a file needs no HTTP client.
SERVER_URL_VARIABLE = "CALLKERNEL_SERVER_URL"

# Longer than any record the runtime writes (tool replies and documents are
# bounded well below it); a binary file without newlines stops here.
MAX_LINE_BYTES = 16 * 1024 * 1024


class NotATrace(Exception):
    """A line that is not a trace record; the message names the line."""


def records(file: BinaryIO, name: str) -> Iterator[dict[str, Any]]:
    """The records of a JSONL trace, in order; NotATrace at the first bad line."""
    number = 0
    while line := file.readline(MAX_LINE_BYTES + 1):
        number += 1
        where = f"{name}:{number}"
        if len(line) > MAX_LINE_BYTES:
            raise NotATrace(f"{where}: not a trace record (a line longer than "
                            f"{MAX_LINE_BYTES // (1024 * 1024)} MiB)")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise NotATrace(f"{where}: not a trace record (not UTF-8 text: is it a "
                            "binary file?)") from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise NotATrace(f"{where}:{error.colno}: not a trace record "
                            f"({error.msg})") from None
        except RecursionError:
            raise NotATrace(f"{where}: not a trace record (nested too deeply)") from None
        if not isinstance(record, dict):
            raise NotATrace(f"{where}: not a trace record (a JSON object), but "
                            f"{_what(record)}")
        t, kind = record.get("t"), record.get("kind")
        if not isinstance(kind, str) or isinstance(t, bool) or not isinstance(t, int | float):
            raise NotATrace(f'{where}: not a trace record (it needs a "kind" string and '
                            f'a "t" number)')
        yield record


def _what(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "true or false", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def run(path: str, *, kinds: list[str] | None = None, environ: Mapping[str, str] | None = None,
        out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the trace file at `path`; `environ` only adds a hint to a missing
    file's message (only an explicit --server reads from a server)."""
    out = out or sys.stdout
    err = err or sys.stderr
    seen: set[str] = set()
    try:
        with open(path, "rb") as file:
            for record in records(file, path):
                seen.add(str(record["kind"]))
                if kinds and record["kind"] not in kinds:
                    continue
                print(format_record(record), file=out)
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            raise
        hint = ""
        if isinstance(error, FileNotFoundError) and (environ or {}).get(SERVER_URL_VARIABLE):
            hint = (f" ({SERVER_URL_VARIABLE} is set, but only --server reads from a "
                    f"server: to read call {path} from it, add --server URL)")
        print(f"callkernel trace: {path}: {error.strerror or error}{hint}", file=err)
        return 2
    except NotATrace as error:
        print(f"callkernel trace: {error}", file=err)
        return 2
    for kind in kinds or ():
        if kind not in seen:
            # A typo would print nothing and look like an empty answer.
            close = difflib.get_close_matches(kind, sorted(seen), n=1)
            print(f"callkernel trace: no {kind!r} record in {path}"
                  + (f" (did you mean {close[0]!r}?)" if close else ""), file=err)
    return 0
