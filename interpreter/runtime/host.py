"""Settings for a process that hosts many calls at once (a server, a benchmark).

Python's full garbage collection stops the event loop while it walks every
tracked object: about 0.2 ms per live call, so ~250 ms with 1,000 calls up —
and every turn waiting at that moment inherits the pause. Calls do not need
it: a finished call leaves no reference cycles (its sinks detach; see
tests/runtime/test_call_memory.py) and is freed by reference counting as soon
as its host drops it. So a host freezes what startup allocated (modules,
compiled flows) out of the collector's sight and makes full collections rare;
young collections, which are cheap, still run as usual.
"""

from __future__ import annotations

import gc

# Young-generation collections before a full one is considered: CPython's
# default is 10; at this value full collections effectively happen only when
# the host asks for one (gc.collect(), e.g. while idle).
FULL_COLLECTION_THRESHOLD = 1_000_000


def tune_gc_for_calls() -> None:
    """Call once, after startup has loaded what it needs."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)
