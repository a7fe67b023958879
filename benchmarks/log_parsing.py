"""s/FTP log parsing: MB per second of ``normalize_raw_log_file`` against a bare line loop.

A synthetic raw s/FTP log in the server's syslog format (sessions with opendir, open, close
and session-closed lines, other sshd noise, a few malformed lines) is written to a temporary
folder at two sizes, 10 MB and 500 MB (``CDR_BENCH_LOG_LARGE_MB`` changes the second); one
megabyte in eight holds a malformed line, so the careful path is measured too. Each
measurement runs in a fresh interpreter, so its peak resident memory is its own:

- baseline: ``for line in open(path, encoding="utf-8"): n += 1`` over the same file;
- ours: every item of :func:`cdr_dagster.cdr.sftp_logs.normalize_raw_log_file` (what the
  ``sftp_access_log`` asset does per file: normalized wanted lines and malformed ones),
  counted.

Throughput is the median of seven passes over the small file, each kind alternating with the
other; peak memory is taken from one pass over each size. Goal (issue 7): at least 0.33x the
bare loop's MB/s, and peak memory flat from the small to the large log.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SMALL_MB = 10
LARGE_MB = int(os.environ.get("CDR_BENCH_LOG_LARGE_MB", "500"))

PROBE = r"""
import json, sys, time
from datetime import date
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
if kind != "bare":
    from cdr_dagster.cdr.sftp_logs import normalize_raw_log_file  # imported before the clock
count = 0
start = time.perf_counter()
if kind == "bare":
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            count += 1
else:
    for item in normalize_raw_log_file(path, date(2025, 3, 10)):
        count += 1
seconds = time.perf_counter() - start
# VmHWM is this process image's own peak; ru_maxrss would carry over the peak of the
# (large) benchmark process that forked this one.
status = Path("/proc/self/status").read_text().splitlines()
peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "count": count, "peak_kib": peak_kib}))
"""


def _session(n: int) -> list[str]:
    """The raw lines of one partner session."""
    pid = 40000 + n % 20000
    login = ("acmehealth", "socclinnum", "brondata", "harborinfo", "northwind")[n % 5]
    minute, second = (n // 60) % 60, n % 60
    stamp = f"2025 Feb {1 + n % 28:>2} {8 + n % 10:02d}:{minute:02d}:{second:02d} sftp-prod-1"
    proc = f"sshd[{pid}]:"
    lines = [
        f"{stamp} {proc} Accepted publickey for {login} from 203.0.113.7 port 5{n % 9999} ssh2",
        f"{stamp} {proc} session opened for local user {login} from [203.0.113.7]",
        f'{stamp} {proc} opendir "/pdq/full"',
        f'{stamp} {proc} closedir "/pdq/full"',
    ]
    for k in range(3):
        path = f"/pdq/full/Summary/CDR00000{62000 + (n * 3 + k) % 900}.xml"
        lines.append(f'{stamp} {proc} open "{path}" flags READ mode 0666')
        lines.append(f'{stamp} {proc} close "{path}" bytes read {1234 * (k + 1)} written 0')
    lines.append(f"{stamp} {proc} session closed for local user {login}")
    lines.append(f"{stamp} {proc} Received disconnect from 203.0.113.7 port 5{n % 9999}:11")
    return lines


def write_log(path: Path, megabytes: int) -> int:
    """Write a synthetic raw log of about ``megabytes`` MB; return its size in bytes."""
    chunk_lines: list[str] = []
    n = 0
    while sum(len(x) + 1 for x in chunk_lines) < 1 << 20:
        chunk_lines.extend(_session(n))
        n += 1
    chunk = ("\n".join(chunk_lines) + "\n").encode("utf-8")
    odd = b'2025 Feb  9 10:11:12 sftp-prod-1 sshd[x1]: open "/pdq/full/odd.xml" flags READ\n'
    with open(path, "wb") as handle:
        for number in range(max(1, (megabytes << 20) // len(chunk))):
            handle.write(chunk)
            if number % 8 == 0:
                handle.write(odd)
    return path.stat().st_size


def measure(kind: str, path: Path) -> dict[str, float]:
    """One pass of ``kind`` (bare or parse) over ``path`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, kind, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"log parsing probe ({kind}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(passes: int = 7) -> list[str]:
    """Measure and return the report lines."""
    with tempfile.TemporaryDirectory(prefix="cdr-log-bench-") as folder:
        small = Path(folder) / "small.log"
        small_bytes = write_log(small, SMALL_MB)
        measure("bare", small)  # warm the page cache
        bare, ours = [], []
        for _ in range(passes):
            bare.append(measure("bare", small))
            ours.append(measure("parse", small))
        mb = small_bytes / (1 << 20)
        bare_rate = mb / statistics.median(m["seconds"] for m in bare)
        our_rate = mb / statistics.median(m["seconds"] for m in ours)
        small_peak = statistics.median(m["peak_kib"] for m in ours) / 1024
        small_base_peak = statistics.median(m["peak_kib"] for m in bare) / 1024
        small.unlink()
        large = Path(folder) / "large.log"
        large_bytes = write_log(large, LARGE_MB)
        large_run = measure("parse", large)
        large_rate = large_bytes / (1 << 20) / large_run["seconds"]
        large_peak = large_run["peak_kib"] / 1024
    large_mb = large_bytes / (1 << 20)
    return [
        f"log_parsing: {our_rate:.1f} MB/s ({our_rate / bare_rate:.2f}x bare line loop "
        f"{bare_rate:.1f} MB/s; {mb:.0f} MB raw s/FTP log; {large_rate:.1f} MB/s on "
        f"{large_mb:.0f} MB)",
        f"log_parsing_peak_memory: {large_peak:.1f} MB on {large_mb:.0f} MB log "
        f"({large_peak / small_peak:.2f}x the {small_peak:.1f} MB on {mb:.0f} MB; "
        f"bare loop {small_base_peak:.1f} MB)",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
