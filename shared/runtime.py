"""Interpreter settings that keep urgent work fast while bulk work keeps a service busy.

Every service calls `tune_for_latency()` once wired. Measured with `make bench-eligibility`
(40,000 bulk requests, 5 emergencies/s): without these, an emergency decided during the backlog
waited 50-700 ms, in spikes every few seconds; with them, 20-50 ms, and bulk throughput rose too.
Intake validates large batches in a worker thread, which the short switch interval keeps from
holding up the event loop that answers a hospital.
"""

from __future__ import annotations

import gc
import sys

# The lane runs in its own thread: when it wakes (a record arrived, a query returned) it needs the
# GIL, which the bulk thread hands over only every switch interval (default 5 ms). An emergency
# takes a few dozen such hand-overs.
SWITCH_INTERVAL_S = 0.0005

# Cyclic garbage collection stops every thread; a full collection over the objects of a 500-record
# batch took up to a few hundred ms. Collect less often, and never scan what startup created.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_for_latency() -> None:
    """Call once the service is wired (after imports and app creation)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()  # startup objects live as long as the process: keep them out of every collection
    gc.set_threshold(*GC_THRESHOLDS)
