"""`callkernel test`: expectations pass and fail visibly; mocks and start points
work; a test is checked against its flow when it loads."""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from interpreter.commands import test as test_command
from interpreter.flowcheck import Observed, check
from interpreter.flowtest import Expectation, FlowTest, load_flow_test

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "flowtest"


def _run(*paths: str, repeat: int = 1, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = test_command.run(list(paths), repeat=repeat, out=out, err=err,
                            **options)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def _copy_support(tmp_path: Path) -> None:
    for name in ("support.yaml", "support.model.yaml"):
        shutil.copy(ROOT / "flows" / name, tmp_path / name)


def _pizza(tmp_path: Path, test: str) -> Path:
    """The pizza flow and its model beside a test file with this text."""
    for name in ("pizza.yaml", "pizza.model.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    path = tmp_path / "pizza.test.yaml"
    path.write_text(test)
    return path


PIZZA_MOCKS = """\
mocks:
  add_pizza:
    response: "Added."
    actions: [{set_global_data: {pizzas: 2}}]
  call_kitchen: {response: "Transferring.", actions: [{stop: true}]}
"""


def test_shipped_flow_tests_pass_repeatedly() -> None:
    code, out, _ = _run(str(ROOT / "flows"), repeat=2)
    assert code == 0, out
    assert "FAIL" not in out and out.count("PASS") >= 2


def test_a_failing_expectation_exits_one_with_trace_evidence_at_real_times(
        tmp_path: Path) -> None:
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
    heard = re.findall(r"\|\s+(\d+\.\d{3})  heard", out)
    assert len(heard) >= 2 and len(set(heard)) == len(heard)  # each line at its own time
    assert float(heard[-1]) > 1.0


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


# ------------------------------------------------------------------ new expectations


def test_context_legs_variables_global_data_and_summary_expectations_pass() -> None:
    code, out, err = _run(str(DATA / "pizza.test.yaml"))
    assert code == 0, out + err
    assert "FAIL" not in out
    for kind in ("context", "dialed", "bridged", "variables", "global_data", "summary"):
        assert re.search(rf"ok   line \d+: expect {kind} ", out), kind


def test_unmet_new_expectations_fail_with_what_happened_instead(tmp_path: Path) -> None:
    path = _pizza(tmp_path, PIZZA_MOCKS + """\
steps:
  - say: "2 margherita pizzas"
  - hangup: {after: 5}
expect:
  - context: kitchen
  - dialed: "+15550100999"
  - bridged: "+15550100400"
  - variables: {order_taken: "no"}
  - global_data: {pizzas: "3"}
  - summary: '"pizzas": 3'
""")
    code, out, _ = _run(str(path))
    assert code == 1
    for line in range(10, 16):
        assert f"FAIL line {line}:" in out, out
    assert 'context_change' not in out and 'ai_started' in out  # never left default
    assert "(nothing to show: no leg was dialed)" in out  # the caller hung up first
    assert "order_taken=null" in out and "pizzas=2" in out
    assert 'text="{\\"pizzas\\": 2}"' in out  # the summary the model gave


def test_a_failed_tool_is_answered_by_after_tool_error_with_the_reason(tmp_path: Path) -> None:
    path = _pizza(tmp_path, """\
mocks:
  add_pizza: {fail: tool_error}
steps:
  - say: "2 margherita pizzas"
  - hangup: {after: 6}
expect:
  - error: tool_error
  - said: "Sorry, I could not add that:"
""")
    code, out, _ = _run(str(path))
    assert code == 0, out


def test_in_order_passes_in_order_and_says_which_came_first_otherwise(tmp_path: Path) -> None:
    _copy_support(tmp_path)
    base = """\
mocks:
  check_order: {response: "Order A123: shipped"}
steps:
  - say: "It's order A123."
  - say: "No, that's all, thanks."
    after_hearing: "anything else"
in_order: true
expect:
"""
    (tmp_path / "support.test.yaml").write_text(base + """\
  - tool: check_order
  - said: "shipped"
  - summary: "order_id"   # how the call ended up: not placed in the order
  - said: "Goodbye"
""")
    code, out, _ = _run(str(tmp_path))
    assert code == 0, out
    (tmp_path / "support.test.yaml").write_text(base + """\
  - said: "Goodbye"
  - tool: check_order
""")
    code, out, _ = _run(str(tmp_path))
    assert code == 1
    assert "FAIL line 10: expect tool 'check_order'" in out
    assert re.search(r"met at \d+\.\d{3} s, before line 9 \(expect said 'Goodbye', met at "
                     r"\d+\.\d{3} s\)", out), out


def test_without_in_order_the_expectations_may_be_met_in_any_order(tmp_path: Path) -> None:
    _copy_support(tmp_path)
    (tmp_path / "support.test.yaml").write_text("""\
mocks:
  check_order: {response: "Order A123: shipped"}
steps:
  - say: "It's order A123."
  - say: "No, that's all, thanks."
    after_hearing: "anything else"
expect:
  - said: "Goodbye"
  - tool: check_order
""")
    assert _run(str(tmp_path))[0] == 0


def _test(*expect: Expectation, in_order: bool = False) -> FlowTest:
    from interpreter.transports.caller_script import CallerScript

    return FlowTest("t.test.yaml", Path("t.yaml"), None, CallerScript(), {}, expect,
                    in_order=in_order)


def test_global_data_is_read_from_the_ai_ended_record_else_from_the_summary_payload() -> None:
    want = Expectation("global_data", patterns={"plan": "gold"}, line=3)
    ended = {"t": 9.0, "kind": "ai_ended", "global_data": {"plan": "gold"}}
    assert check(_test(want), Observed([ended]))[0].passed
    bare = {"t": 9.0, "kind": "ai_ended"}
    assert check(_test(want), Observed([bare], payloads=[{"global_data": {"plan": "gold"}}])
                 )[0].passed
    [outcome] = check(_test(want), Observed([bare]))
    assert not outcome.passed and "global_data is not visible" in outcome.evidence[-1]


# ------------------------------------------------------------------ checked at load time


BAD_TESTS = [
    ("expect:\n  - step: greting\n", 'the flow has no step "greting"', (2, 11),
     'did you mean "greeting"?'),
    ("expect:\n  - context: kichen\n", 'the flow has no context "kichen"', (2, 14),
     'did you mean "kitchen"?'),
    ("expect:\n  - tool: add_piza\n", 'the flow has no function "add_piza"', (2, 11),
     'did you mean "add_pizza"?'),
    ("expect:\n  - tool: next_step\n", '"next_step" is offered by the runtime', (2, 11), None),
    ("mocks:\n  add_piza: {response: ok}\nexpect:\n  - ended: hangup\n",
     'the flow has no function "add_piza" to mock', (2, 3), 'did you mean "add_pizza"?'),
    ("expect:\n  - error: tool_timout\n", '"tool_timout" is not an error type', (2, 12),
     'did you mean "tool_timeout"?'),
    ("mocks:\n  add_pizza: {fail: tool_timout}\nexpect:\n  - ended: hangup\n",
     "`fail` is an error type such as tool_timeout", (2, 21), 'did you mean "tool_timeout"?'),
    ("start: {step: handovr}\nexpect:\n  - ended: hangup\n", 'no step "handovr" in the flow',
     (1, 15), 'did you mean "handover"?'),
    ("start: {context: kitchen, step: greeting}\nexpect:\n  - ended: hangup\n",
     'no step "greeting" in context "kitchen"', (1, 33), None),
    ("start: {context: kichen}\nexpect:\n  - ended: hangup\n",
     'the flow has no context "kichen"', (1, 18), 'did you mean "kitchen"?'),
    ("expect:\n  - stpe: greeting\n", "each expectation has exactly one of", (2, 5),
     'did you mean "step"?'),
    ("expect:\n  - step: greeting\n    arguments: {a: b}\n", '"arguments" does not go with',
     (3, 5), None),
    ("expect:\n  - variables: {x: '(unclosed'}\n", "invalid regular expression", (2, 20),
     None),
    ("expect:\n  - summary: '(unclosed'\n", "invalid regular expression", (2, 14), None),
    ("in_order: sometimes\nexpect:\n  - ended: hangup\n", "`in_order` is true or false",
     (1, 11), None),
    ("model: nowhere.model.yaml\nexpect:\n  - ended: hangup\n",
     "the model nowhere.model.yaml does not exist", (1, 8), None),
]


@pytest.mark.parametrize(("text", "message", "where", "hint"), BAD_TESTS)
def test_a_test_is_checked_against_its_flow_when_it_loads(
        tmp_path: Path, text: str, message: str, where: tuple[int, int],
        hint: str | None) -> None:
    path = _pizza(tmp_path, text)
    with pytest.raises(Exception) as raised:
        load_flow_test(path)
    found = [d for d in getattr(raised.value, "diagnostics", ()) if message in d.message]
    assert found, raised.value
    assert found[0].code == "CK711"
    assert (found[0].span.line, found[0].span.col) == where
    assert found[0].hint == hint


def test_a_start_step_alone_starts_in_the_context_that_has_it(tmp_path: Path) -> None:
    path = _pizza(tmp_path, "start: {step: handover}\nexpect:\n  - ended: hangup\n")
    assert load_flow_test(path).start == ("kitchen", "handover")


def test_a_bad_test_file_fails_with_positions_and_a_line_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "broken.test.yaml").write_text("steps: []\nexpect:\n  - colour: red\n")
    code, out, err = _run(str(tmp_path))
    assert code == 1
    assert "CK711" in err and "broken.test.yaml:3:" in err
    assert "FAIL" in out and "broken.test.yaml" in out


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run(str(tmp_path / "nowhere"))
    assert code == 2 and "no such file" in err


def test_the_model_file_is_checked_when_the_test_loads(tmp_path: Path) -> None:
    path = _pizza(tmp_path, "expect:\n  - ended: hangup\n")
    (tmp_path / "pizza.model.yaml").write_text("rules:\n  - when: {sayd: hi}\n    reply: x\n")
    code, _, err = _run(str(path))
    assert code == 1 and "pizza.model.yaml:2:12: error CK801" in err


# ------------------------------------------------------------------ --trace, --llm


def test_trace_dir_gets_each_tests_trace_overwritten_on_each_run(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    for _ in range(2):
        code, out, _ = _run(str(DATA / "pizza.test.yaml"), str(ROOT / "flows" / "ivr.test.yaml"),
                            trace_dir=str(traces))
        assert code == 0, out
    assert sorted(p.name for p in traces.iterdir()) == ["ivr.jsonl", "pizza.jsonl"]
    records = [json.loads(line) for line in (traces / "pizza.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records].count("call_ended") == 1
    assert f"trace: {traces / 'pizza.jsonl'}" in out


def test_repeated_runs_get_a_trace_each(tmp_path: Path) -> None:
    code, _, _ = _run(str(DATA / "pizza.test.yaml"), repeat=2, trace_dir=str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pizza.run1.jsonl", "pizza.run2.jsonl"]


def test_llm_openai_without_a_server_or_key_is_a_usage_error() -> None:
    code, _, err = _run(str(DATA / "pizza.test.yaml"), llm="openai", env={})
    assert code == 2 and "CALLKERNEL_LLM_BASE_URL" in err


class _FakeModel(BaseHTTPRequestHandler):
    """A chat-completions endpoint: asks for add_pizza, then reads its result back."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        messages = body["messages"]
        if messages[-1]["role"] == "tool":
            delta: dict[str, object] = {"content": f"The shop says: {messages[-1]['content']}"}
        elif any(m["role"] == "user" for m in messages):
            delta = {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                     "function": {"name": "add_pizza", "arguments":
                                                  '{"count": 2, "kind": "margherita"}'}}]}
        else:
            delta = {"content": "Hello from a real model."}
        events = [{"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 5}}]
        payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(payload.encode())))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def fake_model() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeModel.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_llm_openai_runs_the_test_against_a_real_model_with_the_mocks(
        tmp_path: Path, fake_model: str) -> None:
    path = _pizza(tmp_path, """\
mocks:
  add_pizza: {response: "two margheritas added"}
steps:
  - say: "2 margherita pizzas"
  - hangup: {after: 5}
expect:
  - said: "Hello from a real model."
  - tool: add_pizza
    arguments: {count: "2"}
  - said: "The shop says: two margheritas added"
""")
    code, out, err = _run(str(path), llm="openai", env={"CALLKERNEL_LLM_BASE_URL": fake_model})
    assert code == 0, out + err
    assert "Tony's" in str(_FakeModel.requests[0]["messages"])  # the flow's prompt


def test_the_documented_test_file_loads_against_the_support_flow(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "flow-tests.md").read_text()
    block = re.search(r"```yaml\n(# flows/support\.test\.yaml.*?)```", docs, re.DOTALL)
    assert block is not None
    _copy_support(tmp_path)
    (tmp_path / "support.test.yaml").write_text(block[1])
    test = load_flow_test(tmp_path / "support.test.yaml")
    assert {e.kind for e in test.expect} >= {"tool", "said", "ended"}


def test_a_flow_test_can_name_its_flow_by_url(tmp_path: Path) -> None:
    import http.server
    import threading

    flow = b"sections:\n  main:\n    - answer: {}\n    - play: {url: 'say:Hello from afar.'}\n"

    class Serve(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(len(flow)))
            self.end_headers()
            self.wfile.write(flow)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        test = tmp_path / "remote.test.yaml"
        test.write_text(f"flow: http://u:pw@127.0.0.1:{server.server_port}/flow\n"
                        "steps: []\nexpect:\n  - said: from afar\n")
        out, err = io.StringIO(), io.StringIO()
        assert test_command.run([str(test)], out=out, err=err) == 0, out.getvalue()
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    assert "PASS" in out.getvalue()
