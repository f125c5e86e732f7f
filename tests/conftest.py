"""Test configuration: Hypothesis runs derandomized in CI so a failure there
is reproducible; locally it explores new examples on every run."""

from __future__ import annotations

import atexit
import os
import tempfile

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Every webhook, model and document server the tests start listens on
# 127.0.0.1: the tests are the development setup the destination policy's
# loopback switch exists for (interpreter/destinations.py). Tests of the
# policy itself build their DestinationPolicy explicitly.
os.environ["CALLKERNEL_ALLOW_LOOPBACK"] = "1"

# Recordings the tests' calls make go to one temporary folder of this run,
# removed at its end, not to the system's callkernel-recordings folder.
_RECORDINGS = tempfile.TemporaryDirectory(prefix="callkernel-test-recordings-")
os.environ["CALLKERNEL_RECORDINGS"] = _RECORDINGS.name
atexit.register(_RECORDINGS.cleanup)
