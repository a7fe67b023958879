"""Run every benchmark and print one line per figure."""

from __future__ import annotations

import sys

from benchmarks import (
    dictionary_documents,
    dictionary_load,
    file_sweep,
    idle_cost,
    location_load,
    log_parsing,
    queue_latency,
)

BENCHMARKS = [
    location_load,
    queue_latency,
    idle_cost,
    dictionary_documents,
    dictionary_load,
    file_sweep,
    log_parsing,
]


def main() -> int:
    """Run the benchmarks in order; a failing benchmark fails the command."""
    for bench in BENCHMARKS:
        for line in bench.run():
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
