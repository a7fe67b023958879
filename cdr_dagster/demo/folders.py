"""The local folders of the demo: CDR base folder, s/FTP stand-in, sweep area, Dagster home.

Each function builds one folder from the data files and the parsed documents:

- :func:`build_cdr_base`: ``CDR_BASEDIR`` with ``Log/``, ``reports/``, the demo batch-job and
  publishing scripts where the queued rows and the publishing task expect them, the output of
  the last weekly export (with the partner ``.changes`` file), the Akamai media set and the
  mirrored s/FTP logs;
- :func:`build_sftp`: the s/FTP server stand-in, with the PDQ access logs in syslog format;
- :func:`build_sweep`: files and folders of known ages and sizes for the file sweeper;
- :func:`write_dagster_home` and :func:`write_env`: the instance config and ``demo.env``.
"""

from __future__ import annotations

import gzip
import io
import os
import shlex
import shutil
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

from dateutil.relativedelta import relativedelta

from cdr_dagster.demo.datafiles import SCRIPTS_DIR, DataFiles
from cdr_dagster.demo.documents import DemoDocument
from cdr_dagster.demo.publishing import PublishingPlan, weekly_changes

#: Where each demo script goes under CDR_BASEDIR (batch_job.command,
#: docs/behaviour-notes.md#publishing-task script paths).
SCRIPT_TARGETS = {
    "cdr_demo.py": ("lib/Python/cdr_demo.py", "Publishing/cdr_demo.py"),
    "CdrLongReports.py": ("lib/Python/CdrLongReports.py",),
    "CitationsInSummaries.py": ("lib/Python/CitationsInSummaries.py",),
    "Publish.py": ("Publishing/Publish.py",),
    "SubmitPubJob.py": ("Publishing/SubmitPubJob.py",),
    "PubEmail.py": ("Publishing/PubEmail.py",),
    "CG2Public.py": ("Publishing/CG2Public.py",),
    "sftp-export-data.py": ("Publishing/sftp-export-data.py",),
    "Notify_VOL.py": ("Publishing/Notify_VOL.py",),
    "CheckHotfixRemove.py": ("Publishing/CheckHotfixRemove.py",),
}

#: The s/FTP server's log folder (docs/behaviour-notes.md#sftp-log-format), relative to the server
#: root.
SFTP_LOG_DIR = "sftp/sftphome/cdrstaging/logs"
#: Media the demo leaves out of the Akamai set, so a media check reports them as added.
MISSING_MEDIA = ("audio/714623.mp3",)
#: A withdrawn recording left in the Akamai set, so a media check reports it as dropped.
LEFTOVER_MEDIA = 703000

DAGSTER_YAML = """\
# Dagster instance of the cdr-dagster demo, written by `cdr-dagster seed-demo`.
# There is no storage block: runs, event logs and schedules stay in SQLite in this folder.
# The production instance config (PostgreSQL) is dagster.yaml at the top of the repository.

telemetry:
  enabled: false

# No "Join the community" dialog when the UI opens.
nux:
  enabled: false

# The run queue: lanes as in production (cdr_dagster/lanes.py): at most eight runs at once,
# at most three batch reports and two chores, so health and publishing runs always find a
# slot; chores that must not overlap carry a `cdr/lock` tag. Publishing runs are not limited:
# weekly publishing waits for the job it queued.
concurrency:
  runs:
    max_concurrent_runs: 8
    tag_concurrency_limits:
      - key: cdr/lock
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      - key: cdr/lane
        value: batch
        limit: 3
      - key: cdr/lane
        value: chores
        limit: 2
  pools:
    default_limit: 1

# Runs whose worker died are failed by run monitoring, as in production.
run_launcher:
  module: cdr_dagster.run_launcher
  class: HostRunLauncher

run_monitoring:
  enabled: true
  start_timeout_seconds: 110
  poll_interval_seconds: 30

# Dequeue every second so a queued batch job becomes a running run within seconds
# (docs/behaviour-notes.md#queue-latency).
# (Only the dequeue interval lives here; the run limits are under `concurrency` above.)
run_queue:
  dequeue_interval_seconds: 1

# Threads: the two queue sensors watch their queue for most of each 5 s round
# (cdr_dagster/queue_sensors.py), and must not hold up the other sensors.
sensors:
  use_threads: true
  num_workers: 8

schedules:
  use_threads: true
  num_workers: 2

retention:
  sensor:
    purge_after_days:
      skipped: 1
      failure: 30
      success: 30
"""


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)


def _set_mtime(path: Path, when: datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


# ---------------------------------------------------------------------------------------------
# CDR base folder
# ---------------------------------------------------------------------------------------------


def _install_scripts(base: Path) -> list[str]:
    installed = []
    for name, targets in SCRIPT_TARGETS.items():
        for target in targets:
            path = base / target
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SCRIPTS_DIR / name, path)
            path.chmod(0o755)
            installed.append(target)
    return installed


def _derived_images(blob: bytes) -> dict[str, bytes] | None:
    """The full-size, 571 and 750 pixel JPEGs the publishing push makes
    (docs/behaviour-notes.md#media-files).

    Pillow is needed to make them byte-identical to what the media check expects; without it
    the demo stores the original bytes, which the check then reports as modified.
    """
    try:
        from PIL import Image
    except ImportError:
        return None
    image = Image.open(io.BytesIO(blob))
    if image.mode == "P":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    files = {"": out.getvalue()}
    width, height = image.size
    for target in (571, 750):
        if target < width:
            resized = image.resize((target, round(target * height / width)), Image.LANCZOS)
            buffer = io.BytesIO()
            resized.save(buffer, "JPEG", quality=80)
            files[f"-{target}"] = buffer.getvalue()
        else:
            files[f"-{target}"] = files[""]
    return files


def _media_set(media: Path, documents: Iterable[DemoDocument], files: DataFiles) -> int:
    """The Akamai rsync source (BASEDIR/akamai/media) as the last push left it."""
    count = 0
    for doc in documents:
        if doc.doc_type != "Media" or not doc.blob:
            continue
        if doc.on_cancer_gov is None and doc.id != LEFTOVER_MEDIA:
            continue
        blob = files.blob(doc.blob)
        if doc.blob.endswith(".mp3"):
            wanted = {f"audio/{doc.id}.mp3": blob}
        else:
            derived = _derived_images(blob) or {"": blob, "-571": blob, "-750": blob}
            wanted = {f"images/{doc.id}{suffix}.jpg": data for suffix, data in derived.items()}
        for relative, data in wanted.items():
            if relative not in MISSING_MEDIA:
                _write(media / relative, data)
                count += 1
    (media / "audio").mkdir(parents=True, exist_ok=True)
    (media / "images").mkdir(parents=True, exist_ok=True)
    return count


def _publishing_output(
    base: Path, plan: PublishingPlan, documents: list[DemoDocument]
) -> Path | None:
    """Output/Job{id} of the last weekly export, and the partner copy with its .changes file."""
    export = plan.latest_export()
    if export is None:
        return None
    by_id = {doc.id: doc for doc in documents}
    job_dir = base / "Output" / f"Job{export.id}"
    catalog = []
    for doc_id, _version, subdir in export.docs:
        doc = by_id[doc_id]
        _write(job_dir / subdir / f"{doc.cdr_id}.xml", doc.exported or doc.xml)
        if doc.doc_type == "Media" and doc.blob:
            suffix = "mp3" if doc.blob.endswith(".mp3") else "jpg"
            catalog.append(f'"{doc.id}.{suffix}",{doc.created:%Y-%m-%d},"{doc.title}"')
    _write(job_dir / "media_catalog.txt", "\n".join(catalog) + "\n")
    year, week, _ = export.started.isocalendar()
    stamp = f"{year}{week:02d}"
    lines = []
    for doc_type, counts in sorted(weekly_changes(plan, documents, export).items()):
        for action in ("added", "modified", "removed"):
            lines.append(f"{doc_type}.{stamp}:{action}:{counts[action]}")
    partner_dir = base / "Output" / "LicenseeDocs" / f"Job{export.id}"
    changes = partner_dir / f"{stamp}.changes"
    _write(changes, "\n".join(sorted(lines)) + "\n")
    return changes


def build_cdr_base(
    base: Path,
    files: DataFiles,
    documents: list[DemoDocument],
    plan: PublishingPlan,
    sftp_lines: Mapping[str, list[str]],
) -> dict[str, object]:
    """Build CDR_BASEDIR; returns what was made, for the summary."""
    for folder in ("Log", "reports", "GlobalChange", "Bin", "sftp_log"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    scripts = _install_scripts(base)
    media = _media_set(base / "akamai" / "media", documents, files)
    changes = _publishing_output(base, plan, documents)
    mirrored = _mirror_sftp_logs(base / "sftp_log", sftp_lines, files.today)
    return {
        "scripts": scripts,
        "media files": media,
        "changes file": str(changes.relative_to(base)) if changes else None,
        "mirrored logs": mirrored,
    }


# ---------------------------------------------------------------------------------------------
# s/FTP logs (docs/behaviour-notes.md#sftp-log-format)
# ---------------------------------------------------------------------------------------------


def _session_lines(
    month_start: date, last_day: int, sessions: list[dict[str, str]], with_year: bool, seed: int
) -> list[str]:
    """Syslog lines of the partner sessions of one month (days 1..last_day)."""
    lines: list[tuple[datetime, str]] = []
    if last_day < 1:
        return []
    for n, session in enumerate(sessions):
        day = 1 + (3 + 5 * n) % last_day
        start = datetime.combine(month_start.replace(day=day), datetime.min.time())
        start += timedelta(hours=8 + n % 9, minutes=(17 * n) % 60, seconds=(7 * n) % 60)
        pid = 40000 + seed * 100 + n
        events = [f"session opened for local user {session['login']} from [{session['address']}]"]
        events.append('opendir "/pdq/full"')
        for path in session["files"].split():
            events.append(f'open "{path}" flags READ mode 0666')
            events.append(f'close "{path}" bytes read {len(path) * 90_000} written 0')
        events.append(f"session closed for local user {session['login']}")
        for k, event in enumerate(events):
            when = start + timedelta(seconds=3 * k)
            prefix = f"{when:%Y} " if with_year else ""
            stamp = f"{prefix}{when:%b} {when.day:>2} {when:%H:%M:%S}"
            lines.append((when, f"{stamp} sftp-demo-1 sshd[{pid}]: {event}"))
    return [line for _, line in sorted(lines)]


def sftp_log_lines(files: DataFiles) -> dict[str, list[str]]:
    """The remote log files: ``pdq.log`` (this month so far) and two rotated monthly logs.

    A monthly log is named for its rotation date, the first of the following month. The oldest
    one uses the legacy syslog format without a year.
    """
    sessions = files.csv("sftp_sessions.csv")
    this_month = files.today.replace(day=1)
    logs: dict[str, list[str]] = {}
    for back in (2, 1):
        start = this_month - relativedelta(months=back)
        days = ((start + relativedelta(months=1)) - start).days
        rotated = start + relativedelta(months=1)
        logs[f"pdq.log-{rotated:%Y%m%d}.gz"] = _session_lines(
            start, days, sessions, with_year=back == 1, seed=back
        )
    logs["pdq.log"] = _session_lines(this_month, files.today.day - 1, sessions, True, seed=0)
    return logs


def _normalize(line: str, today: date) -> str:
    """A wanted log line in the normalized form of cumulative.log
    (docs/behaviour-notes.md#sftp-log-format)."""
    tokens = line.split()
    if tokens[0].isdigit():
        tokens = tokens[1:]
    months = {}
    for back in range(12):
        month = today.replace(day=1) - relativedelta(months=back)
        months[f"{month:%b}"] = month
    month = months[tokens[0]]
    return f"{month:%Y-%m}-{int(tokens[1]):02d} " + " ".join(tokens[2:])


def _wanted(line: str) -> bool:
    return "session opened for local user" in line or "]: open " in line


def build_sftp(root: Path, logs: Mapping[str, list[str]]) -> int:
    """Write the s/FTP stand-in: the log folder and an empty staging area per tier."""
    folder = root / SFTP_LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in logs.items():
        text = "".join(f"{line}\n" for line in lines).encode("utf-8")
        data = gzip.compress(text, mtime=0) if name.endswith(".gz") else text
        _write(folder / name, data)
    (root / "sftp/sftphome/cdrstaging/pdq-dev").mkdir(parents=True, exist_ok=True)
    return len(logs)


def _mirror_sftp_logs(folder: Path, logs: Mapping[str, list[str]], today: date) -> int:
    """BASEDIR/sftp_log as the last daily sync left it: the oldest monthly log, and the
    cumulative log holding its wanted lines."""
    oldest = min(name for name in logs if name.endswith(".gz"))
    lines = logs[oldest]
    _write(folder / oldest, gzip.compress("".join(f"{x}\n" for x in lines).encode(), mtime=0))
    cumulative = [_normalize(line, today) for line in lines if _wanted(line)]
    _write(folder / "cumulative.log", "".join(f"{line}\n" for line in cumulative))
    return 1


# ---------------------------------------------------------------------------------------------
# File sweeper area (docs/behaviour-notes.md#file-sweeper)
# ---------------------------------------------------------------------------------------------


def _log_text(name: str, size: int, now: datetime) -> bytes:
    lines = []
    total = 0
    n = 0
    while total < size:
        when = now - timedelta(seconds=(size - total) // 4)
        line = f"{when:%Y-%m-%d %H:%M:%S},{n % 1000:03d} [INFO] {name}: demo entry {n}\n"
        lines.append(line)
        total += len(line)
        n += 1
    return "".join(lines).encode("ascii")[:size]


def build_sweep(root: Path, files: DataFiles) -> int:
    """Files and folders for the file sweeper's rules, with their ages set by mtime."""
    entries = files.csv("sweep_files.csv")
    stamps: list[tuple[Path, datetime]] = []
    for entry in entries:
        path = root / entry["path"]
        when = files.now - timedelta(days=int(entry["age_days"]), hours=3)
        if entry["kind"] == "dir":
            path.mkdir(parents=True, exist_ok=True)
        else:
            size = int(entry["size"] or 0)
            _write(path, _log_text(path.name, size, when))
        stamps.append((path, when))
    for path, when in sorted(stamps, key=lambda item: -len(item[0].parts)):
        _set_mtime(path, when)
    return len(entries)


# ---------------------------------------------------------------------------------------------
# Dagster home and the environment file
# ---------------------------------------------------------------------------------------------


def write_dagster_home(home: Path) -> Path:
    """Write DAGSTER_HOME/dagster.yaml (embedded SQLite instance)."""
    path = home / "dagster.yaml"
    _write(path, DAGSTER_YAML)
    return path


def write_env(path: Path, values: Mapping[str, str]) -> Path:
    """Write ``KEY=value`` lines that a shell can source (values quoted when needed)."""
    body = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    _write(
        path, "# Environment of the cdr-dagster demo (written by cdr-dagster seed-demo).\n" + body
    )
    return path
