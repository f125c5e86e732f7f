"""Positions of expression diagnostics inside strings, and lint staying linear
in the number of template references."""

from __future__ import annotations

import time

from interpreter.document.lint import lint_text


def _found(text: str) -> list[tuple[str, int, int]]:
    result = lint_text(text.encode(), "flow.yaml")
    diagnostics = result[1] if isinstance(result, tuple) else result
    return [(d.code, d.span.line, d.span.col) for d in diagnostics]


FLOW = 'version: "1.0.0"\nsections:\n  main:\n    - play:\n        url: "{url}"\n'


def test_repeated_references_are_each_located_where_they_are() -> None:
    # The lookup used to find the first occurrence every time.
    found = _found(FLOW.replace("{url}", "say:${nope} and ${nope} and ${nope}"))
    assert [col for code, _, col in found if code == "CK503"] == [21, 33, 45]


def test_a_reference_after_an_escape_is_located() -> None:
    found = _found(FLOW.replace("{url}", "say:\\u00e9\\u00e9 ${nope}"))
    assert ("CK503", 5, 34) in found


def test_lint_time_grows_linearly_with_references() -> None:
    # One string with 200,000 references took over a minute (quadratic); a
    # thousand per string is the limit, and many strings lint in linear time.
    def lint_time(strings: int) -> float:
        parts = "".join(f"${{x{i}}}" for i in range(500))
        plays = "".join(f'    - play:\n        url: "say:{parts}"\n' for _ in range(strings))
        started = time.perf_counter()
        found = _found('version: "1.0.0"\nsections:\n  main:\n' + plays)
        assert len(found) == 500 * strings
        return time.perf_counter() - started

    small, large = lint_time(4), lint_time(16)
    assert large < 10 * small + 0.5  # 4x the work: linear, with room for a noisy machine
    assert large < 5.0


def test_a_string_with_too_many_references_is_one_diagnostic() -> None:
    started = time.perf_counter()
    found = _found(FLOW.replace("{url}", "say:" + "${a}" * 200_000))
    assert time.perf_counter() - started < 2.0
    assert found == [("CK501", 5, 19 + 1000 * 4)]
