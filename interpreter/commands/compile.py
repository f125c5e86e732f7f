"""`callkernel compile FILE`: the normalized compiled flow as JSON, with its hash.

FILE is a flow file, `-` for stdin, or an http(s) URL (sources.py)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from interpreter.commands.inputs import UnreadableInput
from interpreter.commands.sources import read_source, shown, source_name
from interpreter.document.compile import compile_flow
from interpreter.document.loader import LoadOptions, load_document
from interpreter.document.normalize import flow_to_json
from interpreter.errors import DocumentError


def run(path: str, *, hash_only: bool = False, max_bytes: int | None = None,
        out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = LoadOptions(max_bytes=max_bytes) if max_bytes else LoadOptions()
    try:
        doc = load_document(read_source(path), source_name(path), options)
        flow, warnings = compile_flow(doc)
    except UnreadableInput as error:
        print(f"callkernel compile: {shown(str(error))}", file=err)
        return 2
    except DocumentError as error:
        for diagnostic in error.diagnostics:
            print(shown(diagnostic.render()), file=err)
        return 1
    for warning in warnings:
        print(shown(str(warning)), file=err)
    if hash_only:
        print(flow.content_hash, file=out)
    else:
        body = {"content_hash": flow.content_hash, "flow": flow_to_json(flow)}
        json.dump(body, out, indent=2, sort_keys=True, ensure_ascii=False)
        out.write("\n")
    return 0
