"""Plain-language hints for YAML syntax errors (CK001), and the spot to point at.

The parser says where it gave up, in its own terms ("did not find expected
key while parsing a block mapping"), which is often not where the mistake
is: a missing `:` is reported on the next line, an unclosed quote at the end
of the file. `explain` reads the message and the lines around the spot and
returns the diagnostic with a hint saying what is most likely wrong, moved to
the column (or line) that needs the fix.
"""

from __future__ import annotations

import dataclasses
import re

from interpreter.diagnostics import Diagnostic, Span

_INDENTATION = ("did not find expected key", "expected <block end>",
                "did not find expected '-' indicator")
_SAME_COLUMN = ("keys of one map, and the '- ' items of one list, start in the same "
                "column; a value goes deeper than its key")


def explain(diagnostic: Diagnostic, text: str) -> Diagnostic:
    """`diagnostic` with a hint and a better spot, when it is a YAML syntax error
    this module recognises; otherwise unchanged."""
    if diagnostic.code != "CK001" or diagnostic.hint:
        return diagnostic
    lines = text.splitlines()
    found = _explain(diagnostic.message, lines, diagnostic.span.line, diagnostic.span.col)
    if found is None:
        return diagnostic
    hint, line, col = found
    source = lines[line - 1] if 0 < line <= len(lines) else None
    return dataclasses.replace(diagnostic, hint=hint, source_line=source,
                               span=Span(diagnostic.span.file, line, col))


def _explain(message: str, lines: list[str], line: int,
             col: int) -> tuple[str, int, int] | None:
    tab = _tab_near(lines, line)
    if tab is not None:
        return ("YAML indents with spaces only: replace this tab with spaces "
                "(set your editor to insert spaces for Tab)", *tab)
    if "quoted scalar" in message:
        opened = _unclosed(lines, line, col, quotes=True)
        if opened is not None:
            quote = lines[opened[0] - 1][opened[1] - 1]
            inner = '\\"' if quote == '"' else "''"
            return (f"this {quote} opens a text that is never closed: end it with {quote} "
                    f"(a {quote} inside it is written {inner})", *opened)
    if "flow mapping" in message or "flow sequence" in message:
        opened = _unclosed(lines, line, col, quotes=False)
        if opened is not None:
            bracket = lines[opened[0] - 1][opened[1] - 1]
            closing = "}" if bracket == "{" else "]"
            return (f'this "{bracket}" is never closed: end it with "{closing}", and put a '
                    '"," between its entries', *opened)
    if "could not find expected ':'" in message or "mapping values are not allowed" in message:
        missing = _missing_colon(lines, line, col)
        if missing is not None:
            return missing
        if "mapping values are not allowed" in message:
            return ('a value on the same line as its key cannot itself be "key: value": put '
                    "the inner keys on their own lines, indented, or write {key: value}; quote "
                    'a text that contains ": "', line, col)
    if any(phrase in message for phrase in _INDENTATION):
        return _indentation(lines, line, col)
    return None


def _indent(text: str) -> int:
    """The 1-based column of the first character that is not a space."""
    return len(text) - len(text.lstrip(" ")) + 1


def _content(lines: list[str], before: int) -> list[tuple[int, str]]:
    """(line number, text) of the lines above `before` that hold something,
    nearest first; comments and blank lines skipped."""
    return [(number, lines[number - 1]) for number in range(min(before, len(lines) + 1) - 1,
                                                            0, -1)
            if lines[number - 1].strip() and not lines[number - 1].lstrip().startswith("#")]


def _tab_near(lines: list[str], line: int) -> tuple[int, int] | None:
    """A tab in the indentation of the error line or the content line above it."""
    candidates = [line] + [number for number, _ in _content(lines, line)[:1]]
    for number in candidates:
        if 0 < number <= len(lines):
            text = lines[number - 1]
            leading = text[:len(text) - len(text.lstrip(" \t"))]
            if "\t" in leading:
                return number, leading.index("\t") + 1
    return None


def _indentation(lines: list[str], line: int, col: int) -> tuple[str, int, int] | None:
    if not 0 < line <= len(lines):
        return None
    text = lines[line - 1]
    start = _indent(text)
    if col != start:
        # The parser stopped inside the line: text after a finished value.
        before = text[:col - 1].rstrip()
        if before.endswith(('"', "'")):
            return ("the text ends at the quote before this spot, and more follows: quote "
                    "the whole value with the other kind of quote, or escape the inner "
                    "quotes", line, col)
        return ("unexpected text after a complete value: is a ',' or a line break "
                "missing?", line, col)
    # The columns in use above: each line less indented than all the ones below it.
    opened: list[tuple[int, int]] = []
    for number, above in _content(lines, line):
        column = _indent(above)
        if not opened or column < opened[-1][1]:
            opened.append((number, column))
        items = re.match(r"( *)- +(?=\S)", above)
        if items and text[start - 1:start + 1] == "- " and start == len(items.group(0)) + 1:
            dash = len(items.group(1)) + 1
            return (f'this "- " lines up with the keys of the list item on line {number}, so '
                    f'it cannot start a new item: line it up with the "-" on line {number} '
                    f"(column {dash})", line, start)
    columns = sorted({column for _, column in opened})
    if start in columns:
        return (f"check the indentation of this line and the ones above: {_SAME_COLUMN}",
                line, start)
    nearby = sorted(opened, key=lambda seen: abs(seen[1] - start))[:2]
    choices = " or ".join(f"column {column} like line {number}"
                          for number, column in sorted(nearby, key=lambda seen: seen[1]))
    return (f"this line starts at column {start}, which lines up with nothing above it: "
            f"move it to {choices}", line, start)


def _missing_colon(lines: list[str], line: int, col: int) -> tuple[str, int, int] | None:
    """A key written without its ':' (`- play` above `url: ...`, or `volume 3`):
    the parser notices only on the next line, so point at the line above."""
    above = _content(lines, line)
    if not above:
        return None
    number, text = above[0]
    body = text.strip()
    start = _indent(text)
    if body.startswith("- "):
        start += len(body) - len(body[2:].lstrip())
        body = body[2:].lstrip()
    if not body or ":" in body or body[0] in "{[\"'|>&*!%@`#":
        return None
    word, _, rest = body.partition(" ")
    fixed = f"{word}: {rest.strip()}" if rest.strip() else f"{word}:"
    return f'":" missing after "{word}": write "{fixed}"', number, start + len(word)


def _unclosed(lines: list[str], line: int, col: int, *,
              quotes: bool) -> tuple[int, int] | None:
    """Where the quote (or bracket) still open at (line, col) was opened."""
    stack: list[tuple[str, int, int]] = []
    quote: tuple[str, int, int] | None = None
    for number, text in enumerate(lines[:line], 1):
        limit = col - 1 if number == line else len(text)
        position = 0
        while position < limit:
            char = text[position]
            if quote is not None:
                if quote[0] == '"' and char == "\\":
                    position += 1
                elif char == quote[0]:
                    if quote[0] == "'" and text[position + 1:position + 2] == "'":
                        position += 1
                    else:
                        quote = None
            elif char == "#" and (position == 0 or text[position - 1] in " \t"):
                break
            elif char in "\"'" and (position == 0 or text[position - 1] in " \t[{,:-"):
                quote = (char, number, position + 1)
            elif char in "[{":
                stack.append((char, number, position + 1))
            elif char in "]}" and stack:
                stack.pop()
            position += 1
    if quotes:
        return (quote[1], quote[2]) if quote is not None else None
    return (stack[-1][1], stack[-1][2]) if stack else None
