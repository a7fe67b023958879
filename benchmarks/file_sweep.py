"""File sweep and media comparison throughput, each against a bare baseline in the same run.

1. ``file_sweep_scan``: a test-mode sweep (match, stat, qualify, plan the deletions) of a tree
   of 100,000 files in 200 folders, in files per second, against a bare ``os.scandir`` walk of
   the same tree that stats every entry (the least any sweep must do: it needs sizes and
   times). The sweep's rule matches every file (``d*/f*``) and qualifies all of them by size.
   A second figure sweeps the 200 folders themselves (the production shape: ``Job????``,
   ``work-*``), which sizes every file inside them.
2. ``file_sweep_memory``: the sweep's peak traced memory for all 100,000 matched files and for
   half of them: the growth per extra file shows whether memory stays flat (the qualifying
   list spills to a temporary file beyond 4,096 entries).
3. ``media_compare``: the media check's comparison of a folder of expected files with the disk
   (size check, read, byte comparison, the catalogue) in MB per second, against reading the
   same files raw.

Each figure is the best of three runs; the ratio is ours / baseline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

FOLDERS = 200
FILES_PER_FOLDER = 500
FILE_SIZE = 16
MEDIA_FILES = 300
MEDIA_SIZE = 256 * 1024
TZ = ZoneInfo("America/New_York")


def build_tree(root: Path, folders: int = FOLDERS, files: int = FILES_PER_FOLDER) -> int:
    """``folders`` folders of ``files`` small files each; returns the number of files."""
    data = b"x" * FILE_SIZE
    for d in range(folders):
        folder = root / f"d{d:04d}"
        folder.mkdir(parents=True)
        for f in range(files):
            fd = os.open(folder / f"f{f:05d}.log", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.close(fd)
    return folders * files


def scandir_walk(root: Path) -> int:
    """The baseline: walk the tree with ``os.scandir``, stat every entry; count files."""
    count = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += 1
    return count


def sweep_rules(root: Path, pattern: str) -> str:
    """A Delete rule on ``pattern``: files qualify by size (all of them), folders by age."""
    qualifier = (
        "<Youngest>1</Youngest>"
        if "/" not in pattern
        else "<Biggest>1</Biggest><Smallest>1</Smallest>"
    )
    return (
        "<SweepSpecifications><SweepSpec><Name>bench</Name><Action>Delete</Action>"
        f"<InputRoot>{root}</InputRoot><InputFiles><File>{pattern}</File></InputFiles>"
        f"{qualifier}</SweepSpec></SweepSpecifications>"
    )


def sweep_test_mode(root: Path, pattern: str = "d*/f*") -> int:
    """A test-mode sweep of the tree; returns the files it would delete."""
    from cdr_dagster.sweeper.spec import parse_sweep_specifications
    from cdr_dagster.sweeper.sweep import SweepOptions, run_sweep

    now = time.time() + 3 * 86400  # the fresh tree is "older" than Youngest 1
    config = parse_sweep_specifications(
        sweep_rules(root, pattern), "bench", now=now, tz=TZ, basedir=str(root)
    )
    options = SweepOptions(
        tier="DEV", test_mode=True, output_dir=str(root.parent / "out"), now=now, tz=TZ
    )
    result = run_sweep(config, options)
    return result.outcomes[0].deleted_files


def best_seconds(function: Callable[[], int], runs: int = 3) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        started = time.perf_counter()
        count = function()
        best = min(best, time.perf_counter() - started)
    return best, count


def peak_bytes(function: Callable[[], int]) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def media_figures(base: Path) -> list[str]:
    """Comparison throughput of the media check against raw reads of the same files."""
    from cdr_dagster.media.check import CheckResult, compare
    from cdr_dagster.media.expected import MediaFile

    media = base / "media"
    (media / "audio").mkdir(parents=True)
    expected: dict[int, list[MediaFile]] = {}
    for doc_id in range(1, MEDIA_FILES + 1):
        data = os.urandom(MEDIA_SIZE)
        (media / "audio" / f"{doc_id}.mp3").write_bytes(data)
        expected[doc_id] = [MediaFile(f"audio/{doc_id}.mp3", data)]
    docs = [(doc_id, 1) for doc_id in expected]
    total_mb = MEDIA_FILES * MEDIA_SIZE / 1e6

    def ours() -> int:
        result = CheckResult()
        compare(docs, lambda doc_id, _v: expected[doc_id], media, fix=False, result=result)
        assert not result.rows
        return result.files_compared

    def raw() -> int:
        count = 0
        for doc_id in expected:
            with open(media / "audio" / f"{doc_id}.mp3", "rb") as handle:
                handle.read()
            count += 1
        return count

    raw()  # warm the page cache for both
    ours_s, _ = best_seconds(ours)
    raw_s, _ = best_seconds(raw)
    ours_rate, raw_rate = total_mb / ours_s, total_mb / raw_s
    return [
        f"media_compare: {ours_rate:.0f} MB/s ({ours_rate / raw_rate:.2f}x baseline raw reads "
        f"{raw_rate:.0f} MB/s; {MEDIA_FILES} files, {total_mb:.0f} MB)"
    ]


def run() -> list[str]:
    """Build the tree in a temporary folder, measure, clean up; return the report lines."""
    base = Path(tempfile.mkdtemp(prefix="cdr-sweep-bench-"))
    try:
        root = base / "tree"
        files = build_tree(root)
        scandir_walk(root)  # warm the dentry and inode caches for all
        walk_s, walked = best_seconds(lambda: scandir_walk(root))
        files_s, swept = best_seconds(lambda: sweep_test_mode(root, "d*/f*"))
        folders_s, planned = best_seconds(lambda: sweep_test_mode(root, "d*"))
        if (walked, swept, planned) != (files, files, files):
            raise RuntimeError(f"counted {walked}, {swept}, {planned} files, expected {files}")
        baseline = files / walk_s
        whole = peak_bytes(lambda: sweep_test_mode(root, "d*/f*"))
        half = peak_bytes(lambda: sweep_test_mode(root, "d00*/f*"))  # 100 of the 200 folders
        folders_peak = peak_bytes(lambda: sweep_test_mode(root, "d*"))
        walk_peak = peak_bytes(lambda: scandir_walk(root))
        growth = (whole - half) / (files / 2)
        return [
            f"file_sweep_files: {files / files_s:,.0f} files/s "
            f"({walk_s / files_s:.2f}x baseline scandir walk with stat {baseline:,.0f} files/s; "
            f"a rule matching each of {files:,} files in {FOLDERS} folders, test mode)",
            f"file_sweep_folders: {files / folders_s:,.0f} files/s "
            f"({walk_s / folders_s:.2f}x baseline; a rule matching the {FOLDERS} folders, "
            "test mode sizing every file in them)",
            f"file_sweep_memory: {whole / 1e6:.2f} MB peak for {files:,} matched files, "
            f"{half / 1e6:.2f} MB for {files // 2:,} ({growth:+.1f} B per extra file; "
            f"{folders_peak / 1e6:.2f} MB for the folder rule; baseline walk "
            f"{walk_peak / 1e6:.2f} MB)",
            *media_figures(base / "akamai"),
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    for line in run():
        print(line)
