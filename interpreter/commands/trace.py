"""`callkernel trace FILE`: a call's JSONL trace as a readable timeline."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from interpreter.runtime.trace import format_record, read_trace


def run(path: str, *, kinds: list[str] | None = None, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        records = list(read_trace(path))
    except OSError as error:
        print(f"callkernel trace: {path}: {error.strerror or error}", file=err)
        return 2
    except json.JSONDecodeError as error:
        print(f"callkernel trace: {path}:{error.lineno}: not a trace record ({error.msg})",
              file=err)
        return 2
    for record in records:
        if kinds and record.get("kind") not in kinds:
            continue
        print(format_record(record), file=out)
    return 0
