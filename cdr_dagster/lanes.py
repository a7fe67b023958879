"""Lanes of the run queue: which runs start first, and how many of a kind run at once.

Every job carries the tags of one lane. The queued run coordinator starts queued runs in
order of their ``dagster/priority`` tag (highest first), and ``dagster.yaml`` caps the lanes
that could otherwise fill every slot (``tag_concurrency_limits`` on ``cdr/lane``):

=============  ========  =====  ===============================================================
lane           priority  limit  runs
=============  ========  =====  ===============================================================
``health``     100       none   production health notice, disk-space check
``publishing`` 50        none   publishing queue runs, weekly and nightly publishing
``batch``      10        3      batch-job queue runs (long reports from the CDR admin pages)
``chores``     0         2      everything else: loads, reports, sweeps, partner mail
=============  ========  =====  ===============================================================

With at most 6 runs at once and 3 + 2 slots for the capped lanes, a health or publishing run
always finds a free slot, however many reports and chores wait. Publishing runs are not
limited to one at a time: a weekly publishing run waits for the export job it queued, which
only another publishing run can start. See docs/run-lifecycle.md ("Lanes").
"""

from __future__ import annotations

#: The tag naming a run's lane.
LANE_TAG = "cdr/lane"
#: Dagster's run-queue priority tag (higher starts first).
PRIORITY_TAG = "dagster/priority"

#: Each lane's priority in the run queue.
LANE_PRIORITIES = {
    "health": 100,
    "publishing": 50,
    "batch": 10,
    "chores": 0,
}
#: The lanes ``dagster.yaml`` caps, and their caps (kept equal to the instance config by a test).
LANE_LIMITS = {"batch": 3, "chores": 2}


def lane_tags(lane: str) -> dict[str, str]:
    """The run tags of ``lane``: its name and its run-queue priority."""
    if lane not in LANE_PRIORITIES:
        raise ValueError(f"unknown lane {lane!r}; lanes are {', '.join(LANE_PRIORITIES)}")
    return {LANE_TAG: lane, PRIORITY_TAG: str(LANE_PRIORITIES[lane])}
