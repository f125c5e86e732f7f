# Quick start: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test browser screenshots lint typecheck bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The IVR example's webhook is the local demo's, on 127.0.0.1 (a development
# address the destination policy refuses unless allowed).
demo: $(STAMP)
	$(BIN)/callkernel describe flows
	CALLKERNEL_ALLOW_LOOPBACK=1 $(BIN)/callkernel run flows/ivr.yaml --caller flows/ivr.caller.yaml
	$(BIN)/callkernel demo
	$(BIN)/callkernel demo --audio --record demo-call.wav --timeline demo-call.png
	$(BIN)/callkernel demo --phone --record demo-phone.wav --timeline demo-phone.png

# The page tests drive a real headless Chromium (docs/softphone.md): Debian's,
# installed once with apt (as root, or through sudo) when none is found.
browser:
	@command -v $${CALLKERNEL_CHROMIUM:-chromium} >/dev/null || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get install -y -q chromium \
	  || { $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium; }; }

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The pictures of /phone and /console in docs/images/, taken by their tests.
screenshots: $(STAMP) browser
	CALLKERNEL_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/server/test_phone_page.py tests/server/test_console_page.py

lint: $(STAMP)
	$(BIN)/callkernel lint --strict flows

bench: $(STAMP)
	$(BIN)/python bench/bench_compile.py
	$(BIN)/python bench/bench_kernel.py
	$(BIN)/python bench/bench_ai.py
	$(BIN)/python bench/bench_trace.py
	$(BIN)/python bench/bench_barge.py
	$(BIN)/python bench/bench_capacity.py
	$(BIN)/python bench/bench_response.py
	$(BIN)/python bench/bench_heard.py
	$(BIN)/python bench/bench_dtmf.py
	$(BIN)/python bench/bench_stt.py
	$(BIN)/python bench/bench_talkers.py
	$(BIN)/python bench/bench_rest.py
	$(BIN)/python bench/bench_server_calls.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/bench_media_streams.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
