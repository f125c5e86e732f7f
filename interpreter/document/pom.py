"""Render a POM (prompt object model) to the text the model sees.

Matches the reference renderer (`signalwire_pom`): markdown by default,
`## Title`, body, `- bullet` lists, subsections one heading level deeper,
`numbered` sections and `numberedBullets`; XML with `params.pom_format: xml`.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from interpreter.jsontypes import JSONValue


def render_pom(sections: list[JSONValue], fmt: str = "markdown") -> str:
    if fmt == "xml":
        body = "".join(_xml(section) for section in sections if isinstance(section, dict))
        return f"<prompt>{body}</prompt>"
    parts = [_markdown(section, 2, position)
             for position, section in enumerate(sections, start=1) if isinstance(section, dict)]
    return "\n".join(parts)


def _markdown(section: dict[str, JSONValue], level: int, number: int) -> str:
    lines: list[str] = []
    title = section.get("title")
    if isinstance(title, str) and title:
        prefix = f"{number}. " if section.get("numbered") else ""
        lines += ["#" * level + f" {prefix}{title}", ""]
    body = section.get("body")
    if isinstance(body, str) and body:
        lines += [body, ""]
    bullets = section.get("bullets")
    if isinstance(bullets, list) and bullets:
        numbered = bool(section.get("numberedBullets"))
        lines += [(f"{i}. " if numbered else "- ") + str(bullet)
                  for i, bullet in enumerate(bullets, start=1)]
        lines.append("")
    subsections = section.get("subsections")
    text = "\n".join(lines)
    if isinstance(subsections, list):
        rendered = [_markdown(sub, level + 1, i)
                    for i, sub in enumerate(subsections, start=1) if isinstance(sub, dict)]
        if rendered:
            text += "\n" + "\n".join(rendered)
    return text


def _xml(section: dict[str, JSONValue]) -> str:
    out = "<section>"
    if isinstance(section.get("title"), str):
        out += f"<title>{escape(str(section['title']))}</title>"
    if isinstance(section.get("body"), str):
        out += f"<body>{escape(str(section['body']))}</body>"
    bullets = section.get("bullets")
    if isinstance(bullets, list) and bullets:
        out += "<bullets>" + "".join(f"<bullet>{escape(str(b))}</bullet>" for b in bullets) + \
            "</bullets>"
    subsections = section.get("subsections")
    if isinstance(subsections, list):
        out += "".join(_xml(sub) for sub in subsections if isinstance(sub, dict))
    return out + "</section>"
