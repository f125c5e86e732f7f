"""`callkernel test`: expectations pass and fail visibly; mocks and start points work."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from interpreter.commands import test as test_command

ROOT = Path(__file__).resolve().parents[2]


def _run(*paths: str, repeat: int = 1) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = test_command.run(list(paths), repeat=repeat, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _copy_support(tmp_path: Path) -> None:
    for name in ("support.yaml", "support.model.yaml"):
        shutil.copy(ROOT / "flows" / name, tmp_path / name)


def test_shipped_flow_tests_pass_repeatedly() -> None:
    code, out, _ = _run(str(ROOT / "flows"), repeat=2)
    assert code == 0, out
    assert "FAIL" not in out and out.count("PASS") >= 2


def test_a_failing_expectation_exits_one_with_trace_evidence(tmp_path: Path) -> None:
    _copy_support(tmp_path)
    (tmp_path / "support.test.yaml").write_text("""\
mocks:
  check_order: {response: "Order A123: lost in transit"}
steps:
  - say: "It's order A123."
  - hangup: {after: 6}
expect:
  - said: "shipped"
  - tool: check_order
    arguments: {order_id: "B\\\\d+"}
""")
    code, out, _ = _run(str(tmp_path))
    assert code == 1
    assert "FAIL line 7: expect said 'shipped'" in out
    assert "FAIL line 8: expect tool 'check_order'" in out
    assert "lost in transit" in out  # the evidence shows what was said instead


def test_a_mocked_tool_failure_is_recovered_and_can_be_expected(tmp_path: Path) -> None:
    _copy_support(tmp_path)
    (tmp_path / "support.test.yaml").write_text("""\
mocks:
  check_order: {fail: tool_timeout, delay: 1}
steps:
  - say: "It's order A123."
  - hangup: {after: 8}
expect:
  - error: tool_timeout
  - said: "taking longer than expected"
""")
    code, out, _ = _run(str(tmp_path / "support.test.yaml"))
    assert code == 0, out


def test_invalid_test_files_are_reported_with_positions(tmp_path: Path) -> None:
    (tmp_path / "broken.test.yaml").write_text("steps: []\nexpect:\n  - colour: red\n")
    code, _, err = _run(str(tmp_path))
    assert code == 1
    assert "CK711" in err and "broken.test.yaml:3:" in err
