"""Sensor ticks that watch a CDR table instead of looking once.

Dagster's sensor daemon starts a round of ticks at most every 5 s (``MIN_INTERVAL_LOOP_TIME``
in ``dagster._daemon.sensor``), and every tick costs the daemon a gRPC call and writes to its
tick and sensor-state tables (each on a new PostgreSQL connection). A sensor that must answer
within a second or two therefore does not tick every round: one tick keeps looking, once every
``interval`` seconds, for up to the watch time, and returns as soon as it finds work. The
daemon runs one tick of a sensor at a time; a round that finds the tick still watching leaves
it be, and the first round after the watch ends starts the next tick.

The watch, ``CDR_QUEUE_WATCH_SECONDS`` (default 48.5), is shared by the two queue sensors
(``cdr_dagster/queue_sensors.py``) and the "Run Job Now" sensor
(``cdr_dagster/control_sensors.py``). Rounds come every 5 s, so a watch 1.5 s under a multiple
of 5 s ends just before a round (1.5 s is left for the tick's own gRPC call and writes) and the
next tick starts at that round: 48.5 s of looking in every 50 s. Dagster fails a sensor
evaluation after 60 s (its gRPC timeout), so a watch must stay under 50 s. Watching needs the
instance to evaluate sensors in threads (``sensors: use_threads: true`` in ``dagster.yaml``,
as shipped); otherwise set it to 0 (one look per tick), or the watches would delay every other
sensor (docs/architecture.md, "Idle cost").
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from cdr_dagster.settings import seconds_setting

WATCH_VARIABLE = "CDR_QUEUE_WATCH_SECONDS"
#: Ten 5 s daemon rounds less 1.5 s: a tick every 50 s, looking for 48.5 s of them.
DEFAULT_WATCH_SECONDS = 48.5
#: Dagster's sensor daemon starts a round of ticks every 5 s.
DAEMON_ROUND_SECONDS = 5.0
#: Dagster fails a sensor evaluation after 60 s (its gRPC timeout); a watch ends well before.
MAX_WATCH_SECONDS = 50.0

T = TypeVar("T")


def watch_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long one tick keeps looking (``CDR_QUEUE_WATCH_SECONDS``, default 48.5; 0 means one
    look per tick). It must end well before Dagster's 60 s limit (under 50 s)."""
    env = os.environ if environ is None else environ
    return seconds_setting(env, WATCH_VARIABLE, DEFAULT_WATCH_SECONDS, under=MAX_WATCH_SECONDS)


def watch(look: Callable[[], T], found: Callable[[T], bool], interval: float) -> T:
    """Call ``look`` every ``interval`` seconds until ``found`` says yes to what it returned or
    the watch (:func:`watch_seconds`, read now) is over; return what the last look returned.

    ``look`` is called at least once."""
    deadline = time.monotonic() + watch_seconds()
    while True:
        result = look()
        remaining = deadline - time.monotonic()
        if found(result) or remaining <= 0:
            return result
        time.sleep(min(interval, remaining))
