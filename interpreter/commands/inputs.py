"""Reading the paths a command is given: files, directories and `-` for stdin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from interpreter.limits import INPUT_MAX_BYTES

FLOW_SUFFIXES = (".yaml", ".yml", ".json")
# Files next to flows that are not flows: caller scripts, flow tests, model rules.
NOT_FLOWS = (".caller.yaml", ".test.yaml", ".model.yaml")


def is_flow_file(path: Path) -> bool:
    return path.suffix in FLOW_SUFFIXES and not path.name.endswith(NOT_FLOWS)


class UnreadableInput(Exception):
    """A path that does not exist or cannot be read (exit code 2)."""


def expand(paths: list[str]) -> Iterator[str]:
    """Files as given; directories walked for flow files, sorted; `-` kept."""
    for raw in paths:
        path = Path(raw)
        if raw == "-":
            yield raw
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if is_flow_file(p) and p.is_file())
            yield from (str(p) for p in found)
        elif path.exists():
            yield raw
        else:
            raise UnreadableInput(f"{raw}: no such file or directory")


def read(path: str, limit: int = INPUT_MAX_BYTES) -> bytes:
    """The bytes of a file, or of stdin for `-`, reading at most `limit` + 1 bytes:
    a longer input (`/dev/zero`, a log piped by mistake) is refused, never read whole.
    The document's own size limit (smaller) is checked by the loader."""
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            with open(path, "rb") as stream:
                data = stream.read(limit + 1)
        except OSError as error:
            raise UnreadableInput(f"{path}: {error.strerror or error}") from None
    if len(data) > limit:
        raise UnreadableInput(f"{display_name(path)}: larger than {limit:,} bytes, the most "
                              "callkernel reads from one input")
    return data


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def output_problem(path: str, what: str, suffix: str) -> str | None:
    """Why `path` cannot take the `what` a command writes after the call (a
    recording, a picture), found before the call runs; None when it can."""
    target = Path(path)
    if target.suffix.lower() != suffix:
        return f"the {what} is written as {suffix[1:].upper()}: name it {target.stem}{suffix}"
    if target.is_dir():
        return f"cannot write the {what} to {path}: it is a directory"
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        return f"cannot write the {what} to {path}: no folder {folder}"
    try:
        existed = target.exists()
        with open(target, "ab"):
            pass
        if not existed:
            target.unlink()
    except OSError as error:
        return f"cannot write the {what} to {path}: {error.strerror or error}"
    return None


def outputs_problem(*, record: str | None = None, timeline: str | None = None) -> str | None:
    """The first of a call command's outputs (--record WAV, --timeline PNG)
    that cannot be written, said before the call runs; None when all can."""
    for path, what, suffix in ((record, "recording", ".wav"), (timeline, "timeline", ".png")):
        problem = output_problem(path, what, suffix) if path is not None else None
        if problem is not None:
            return problem
    return None
