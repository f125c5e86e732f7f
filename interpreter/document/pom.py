"""Render a POM (prompt object model) to the text the model sees.

A port of the reference renderer (`signalwire_pom` 2.7, `PromptObjectModel`
`render_markdown`/`render_xml`), its quirks included, so a prompt reads the
same here as on the platform; `tests/data/sdk/pom_rendered.json` holds the
reference's output for the SDK fixtures and a test compares.

Numbering: when any section in a list of siblings is `numbered`, every titled
sibling is numbered unless it says `numbered: false`; numbers nest (`1.2.`).
A subsection that is not numbered repeats its parent's number. Untitled
sections are never numbered, and the subsections of an untitled top section
stay at its heading level. XML text is not escaped, as in the reference.
"""

from __future__ import annotations

from interpreter.jsontypes import JSONValue

_Section = dict[str, JSONValue]


def render_pom(sections: list[JSONValue], fmt: str = "markdown") -> str:
    top = _sections(sections)
    numbers = _top_numbers(top)
    if fmt == "xml":
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<prompt>"]
        lines += [_xml(section, 1, number) for section, number in zip(top, numbers, strict=True)]
        lines.append("</prompt>")
        return "\n".join(lines)
    return "\n".join(_markdown(section, 2, number)
                     for section, number in zip(top, numbers, strict=True))


def _sections(value: JSONValue) -> list[_Section]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _numbered(section: _Section) -> bool | None:
    """True, False when the section opts out explicitly, None when unset."""
    value = section.get("numbered")
    if isinstance(value, str):
        value = {"true": True, "false": False}.get(value.lower())
    return value if isinstance(value, bool) else None


def _title(section: _Section) -> str | None:
    title = section.get("title")
    return None if title is None else str(title)


def _top_numbers(sections: list[_Section]) -> list[list[int]]:
    any_numbered = any(_numbered(section) for section in sections)
    numbers, counter = [], 0
    for section in sections:
        number: list[int] = []
        if _title(section) is not None:
            counter += 1  # only titled sections count
            if any_numbered and _numbered(section) is not False:
                number = [counter]
        numbers.append(number)
    return numbers


def _children(section: _Section, number: list[int]) -> list[tuple[_Section, list[int], bool]]:
    """Subsections with their numbers, and whether they go one level deeper."""
    subsections = _sections(section.get("subsections"))
    any_numbered = any(_numbered(sub) for sub in subsections)
    out = []
    for position, sub in enumerate(subsections, start=1):
        if _title(section) is None and not number:  # an untitled top section
            out.append((sub, number, False))
        elif any_numbered and _numbered(sub) is not False:
            out.append((sub, [*number, position], True))
        else:
            out.append((sub, number, True))
    return out


def _prefix(number: list[int]) -> str:
    return ".".join(map(str, number)) + ". " if number else ""


def _bullets(section: _Section) -> list[str]:
    bullets = section.get("bullets")
    return [str(item) for item in bullets] if isinstance(bullets, list) else []


def _markdown(section: _Section, level: int, number: list[int]) -> str:
    lines = []
    title = _title(section)
    if title is not None:
        lines.append(f"{'#' * level} {_prefix(number)}{title}\n")
    body = section.get("body")
    if isinstance(body, str) and body:
        lines.append(f"{body}\n")
    bullets = _bullets(section)
    numbered = bool(section.get("numberedBullets"))
    lines += [f"{i}. {item}" if numbered else f"- {item}"
              for i, item in enumerate(bullets, start=1)]
    if bullets:
        lines.append("")
    for sub, sub_number, deeper in _children(section, number):
        lines.append(_markdown(sub, level + 1 if deeper else level, sub_number))
    return "\n".join(lines)


def _xml(section: _Section, indent: int, number: list[int]) -> str:
    pad = "  " * indent
    lines = [f"{pad}<section>"]
    title = _title(section)
    if title is not None:
        lines.append(f"{pad}  <title>{_prefix(number)}{title}</title>")
    body = section.get("body")
    if isinstance(body, str) and body:
        lines.append(f"{pad}  <body>{body}</body>")
    bullets = _bullets(section)
    if bullets:
        numbered = bool(section.get("numberedBullets"))
        lines.append(f"{pad}  <bullets>")
        lines += [f'{pad}    <bullet id="{i}">{item}</bullet>' if numbered
                  else f"{pad}    <bullet>{item}</bullet>"
                  for i, item in enumerate(bullets, start=1)]
        lines.append(f"{pad}  </bullets>")
    children = _children(section, number)
    if children:
        lines.append(f"{pad}  <subsections>")
        # XML nests by indentation alone: every subsection goes two levels in.
        lines += [_xml(sub, indent + 2, sub_number) for sub, sub_number, _ in children]
        lines.append(f"{pad}  </subsections>")
    lines.append(f"{pad}</section>")
    return "\n".join(lines)
