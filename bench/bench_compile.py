"""Lint + compile time and peak memory for a generated 5,000-line flow.

Target (docs/performance.md): lint + compile of a 5,000-line flow in under 0.5 s.
Usage: python bench/bench_compile.py [--lines N] [--repeat R] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.document.compile import _Compiler
from interpreter.document.expression_sites import parse_cached
from interpreter.document.lint import run_rules
from interpreter.document.loader import load_document
from interpreter.document.schema import validate_schema


def generate_flow(target_lines: int) -> str:
    """An ai flow with many contexts, steps and functions, about `target_lines` long."""
    head = [
        'version: "1.0.0"',
        "sections:",
        "  main:",
        "    - answer: {}",
        "    - set: {greeting: \"%{call.from}\"}",
        "    - ai:",
        "        prompt:",
        "          text: You are the agent for ${global_data.company}. Today is ${local_date}.",
        "          contexts:",
    ]
    contexts: list[str] = []
    functions: list[str] = []
    steps_per_context = 8
    context = 0
    while len(head) + len(contexts) + len(functions) < target_lines - 12:
        name = f"ctx{context}"
        following = f"ctx{context + 1}"
        contexts.append(f"            {name}:")
        contexts.append("              steps:")
        for step in range(steps_per_context):
            fn = f"fn_{context}_{step}"
            last = step == steps_per_context - 1
            contexts += [
                f"                - name: s{step}",
                f"                  text: Step {step} of {name}. Ask about ${{global_data.topic}}"
                " and help.",
                f"                  step_criteria: The caller answered question {step}.",
                f"                  functions: [{fn}]",
            ]
            if last:
                contexts.append(f"                  valid_contexts: [{following}, ctx0]")
            else:
                contexts.append(f"                  valid_steps: [s{step + 1}]")
            functions += [
                f"            - function: {fn}",
                f"              description: Look up item {step} for context {context}.",
                "              parameters:",
                "                type: object",
                "                properties:",
                "                  item_id: {type: string, description: The item to look up}",
                "                required: [item_id]",
            ]
        context += 1
    # The last context's valid_contexts names a context that does not exist yet.
    contexts += [f"            ctx{context}:", "              steps:",
                 "                - name: done", "                  text: Say goodbye.",
                 "                  end: true"]
    tail = [
        "        SWAIG:",
        "          defaults: {web_hook_url: \"https://hooks.example.com/swaig\"}",
        "          functions:",
    ]
    foot = ["        global_data: {company: Acme, topic: orders}", "    - hangup: {}"]
    return "\n".join(head + contexts + tail + functions + foot) + "\n"


def measure(text: str) -> dict[str, float]:
    parse_cached.cache_clear()
    started = time.perf_counter()
    doc = load_document(text, "generated.yaml")
    loaded = time.perf_counter()
    schema = validate_schema(doc)
    validated = time.perf_counter()
    rules = list(run_rules(doc))
    linted = time.perf_counter()
    assert not schema and not [d for d in rules if d.severity.value == "error"], rules[:3]
    _Compiler(doc).compile()
    compiled = time.perf_counter()
    return {"load": loaded - started, "schema": validated - loaded, "rules": linted - validated,
            "compile": compiled - linted, "total": compiled - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    text = generate_flow(args.lines)
    lines = text.count("\n")
    measure(text)  # warm-up: imports, schema and parser construction
    runs = [measure(text) for _ in range(args.repeat)]
    tracemalloc.start()
    measure(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    worst = max(run["total"] for run in runs)
    verdict = "meets" if median["total"] < 0.5 else "MISSES"
    report = (
        f"## Lint + compile (`bench/bench_compile.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs. Generated flow: {lines:,} lines, "
        f"{len(text):,} bytes; median of {args.repeat} runs after a warm-up.\n\n"
        "| stage | median ms |\n|---|---|\n"
        + "".join(f"| {key} | {value * 1000:.1f} |\n" for key, value in median.items())
        + f"\nWorst run {worst * 1000:.1f} ms. Peak traced memory {peak / 2**20:.1f} MiB. "
        f"Target < 500 ms: {verdict}.\n"
    )
    print(report)
    if not args.no_write:
        write_section("bench_compile", report)


if __name__ == "__main__":
    main()
