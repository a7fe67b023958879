"""The file sweeper without Dagster: real temporary trees with controlled mtimes
(docs/behaviour-notes.md#file-sweeper).

Every action (Delete, Archive, TruncateArchive, TruncateDelete), the age and size qualifiers
and triggers, tiers, archive naming, test mode (a full listing with sizes and mtimes is the
same before and after), symbolic links out of a root, crashes injected between archiving and
deleting (in a child process that dies), and the validation errors, each naming its value.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cdr_dagster.sweeper.actions import Hooks
from cdr_dagster.sweeper.archive import ArchiveError, ArchiveWriter, verify_archive
from cdr_dagster.sweeper.lock import LockHeldError, SweepLock, lock_path
from cdr_dagster.sweeper.remove import DIR_FD_SUPPORTED
from cdr_dagster.sweeper.spec import (
    SweepSpecError,
    parse_sweep_specifications,
    reference_time,
)
from cdr_dagster.sweeper.sweep import SweepOptions, run_sweep
from cdr_dagster_tests.test_file_sweeper_helpers import (
    NOW,
    REF,
    TZ,
    age,
    day_of,
    document,
    listing,
    make_dir,
    make_file,
    rule_xml,
)


def parse(xml: str, basedir: Path | str = "/cdr"):
    return parse_sweep_specifications(xml, "test rules", now=NOW, tz=TZ, basedir=str(basedir))


def sweep(
    xml: str,
    out: Path,
    *,
    test_mode: bool = False,
    tier: str = "DEV",
    hooks=None,
    dir_fd: bool | None = None,
):
    options = SweepOptions(
        tier=tier,
        test_mode=test_mode,
        output_dir=str(out),
        now=NOW,
        tz=TZ,
        hooks=hooks or Hooks(),
        dir_fd=dir_fd,
    )
    return run_sweep(parse(xml, out), options)


def members(archive: Path) -> dict[str, bytes | None]:
    with tarfile.open(archive, "r:bz2") as tar:
        result = {}
        for info in tar:
            stream = tar.extractfile(info) if info.isreg() else None
            result[info.name] = stream.read() if stream else None
        return result


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


# --- reference time -------------------------------------------------------------------------


def test_reference_time_is_0400_utc_the_day_before_in_summer_and_winter() -> None:
    summer = datetime(2024, 7, 10, 21, 0, tzinfo=TZ).timestamp()  # 01:00 UTC on the 11th
    assert datetime.fromtimestamp(reference_time(summer, TZ), timezone.utc) == datetime(
        2024, 7, 10, 4, 0, tzinfo=timezone.utc
    )
    winter = datetime(2024, 1, 10, 10, 0, tzinfo=TZ).timestamp()  # 15:00 UTC on the 10th
    assert datetime.fromtimestamp(reference_time(winter, TZ), timezone.utc) == datetime(
        2024, 1, 9, 4, 0, tzinfo=timezone.utc
    )
    # docs/behaviour-notes.md#sweep-ages: after 20:00 local the previous evening, 00:00 EDT of the
    # previous day.
    assert datetime.fromtimestamp(REF, TZ) == datetime(2024, 5, 13, 0, 0, tzinfo=TZ)


# --- Archive --------------------------------------------------------------------------------


def archive_rule(root: Path, out: Path, **kw) -> str:
    numbers = {"Oldest": 120, "Youngest": 90} | kw
    return rule_xml("Old logs", "Archive", root, ["*.log"], output=out / "Arch", **numbers)


def test_archive_batches_everything_older_than_youngest_once_one_is_older_than_oldest(
    root: Path, out: Path
) -> None:
    a = make_file(root / "a.log", 130, 1000)
    b = make_file(root / "b.log", 100, 2000)
    make_file(root / "c.log", 30, 500)
    result = sweep(document(archive_rule(root, out)), out)

    assert result.fatal is None
    name = out / f"Arch.{day_of(age(130))}-{day_of(age(100))}.tar.bz2"
    assert sorted(os.listdir(out)) == [name.name]
    stored = members(name)
    assert stored == {"a.log": make_content("a.log", 1000), "b.log": make_content("b.log", 2000)}
    assert not a.exists() and not b.exists()
    assert sorted(os.listdir(root)) == ["c.log"]
    outcome = result.outcomes[0]
    assert (outcome.status, outcome.matched, outcome.qualified) == ("done", 3, 2)
    assert (outcome.deleted_files, outcome.bytes_freed, outcome.archive) == (2, 3000, str(name))


def make_content(name: str, size: int) -> bytes:
    pattern = f"{name}:".encode()
    return (pattern * (size // len(pattern) + 1))[:size]


def test_archive_waits_until_something_is_older_than_oldest(root: Path, out: Path) -> None:
    make_file(root / "a.log", 110)
    make_file(root / "b.log", 100)
    before = listing(root)
    result = sweep(document(archive_rule(root, out)), out)
    assert result.outcomes[0].status == "not triggered"
    assert "older than 120 days" in result.outcomes[0].reason
    assert listing(root) == before
    assert not any(out.iterdir())


def test_archive_in_test_mode_names_the_archive_and_changes_nothing(root: Path, out: Path) -> None:
    out.mkdir()
    make_file(root / "a.log", 130)
    make_file(root / "b.log", 100)
    make_dir(root / "Job1234.log", 200, {"x.xml": 10, "y.xml": 20})
    before, before_out = listing(root), listing(out)
    result = sweep(document(archive_rule(root, out)), out, test_mode=True)
    assert listing(root) == before
    assert listing(out) == before_out
    outcome = result.outcomes[0]
    expected = out / f"Arch.{day_of(age(200))}-{day_of(age(100))}.tar.bz2"
    assert outcome.archive == str(expected)  # what a live run would write; nothing written
    assert not expected.exists()
    assert (outcome.deleted_files, outcome.deleted_dirs, outcome.bytes_freed) == (4, 1, 230)
    assert any("would archive and delete folder" in line for line in outcome.actions)


def test_existing_archive_names_get_01_to_04_and_then_the_sweep_fails(
    root: Path, out: Path
) -> None:
    make_file(root / "a.log", 130)
    out.mkdir()
    base = out / f"Arch.{day_of(age(130))}-{day_of(age(130))}.tar.bz2"
    base.write_bytes(b"older archive")
    result = sweep(document(archive_rule(root, out)), out)
    assert result.outcomes[0].archive == f"{base}.01"
    assert base.read_bytes() == b"older archive"

    make_file(root / "a.log", 130)
    for n in range(1, 5):
        Path(f"{base}.{n:02d}").write_bytes(b"x")
    before = listing(root)
    result = sweep(document(archive_rule(root, out)), out)
    assert result.fatal is not None
    assert "Too many output files with base name" in result.fatal
    assert str(base) in result.fatal
    assert listing(root) == before


def test_output_file_suffixes_are_stripped_and_relative_names_go_below_the_output_dir(
    root: Path, out: Path
) -> None:
    make_file(root / "a.log", 130)
    xml = rule_xml(
        "Rel", "Archive", root, ["a.log"], output="sub/Logs.tar.bz2", Oldest=120, Youngest=90
    )
    result = sweep(document(xml), out)
    day = day_of(age(130))
    assert result.outcomes[0].archive == str(out / "sub" / f"Logs.{day}-{day}.tar.bz2")
    assert (out / "sub" / f"Logs.{day}-{day}.tar.bz2").is_file()


def test_archived_folders_go_whole_and_only_what_the_archive_holds_is_deleted(
    root: Path, out: Path
) -> None:
    job = make_dir(root / "Job0001", 200, {"a.xml": 10})
    make_dir(job / "sub", 200, {"b.xml": 20})
    os.mkfifo(job / "pipe")  # cannot be archived: it stays, and so does its folder
    os.utime(job, (age(200), age(200)))
    xml = rule_xml(
        "Jobs", "Archive", root, ["Job????"], output=out / "Jobs", Oldest=120, Youngest=90
    )
    result = sweep(document(xml), out)
    outcome = result.outcomes[0]
    archive = Path(outcome.archive)
    assert set(members(archive)) == {"Job0001", "Job0001/a.xml", "Job0001/sub", "Job0001/sub/b.xml"}
    assert sorted(os.listdir(job)) == ["pipe"]
    assert any("pipe: not a file, folder or link; not archived" in p for p in outcome.problems)
    assert any("kept: it holds entries that are not in the archive" in p for p in outcome.problems)


def test_a_file_that_vanishes_before_it_is_archived_is_skipped_and_the_rule_goes_on(
    root: Path, out: Path
) -> None:
    a = make_file(root / "a.log", 130)
    make_file(root / "b.log", 125)
    c = make_file(root / "c.log", 100)
    job = make_dir(root / "d.log", 110, {"x.txt": 10, "y.txt": 20})

    def vanish(path: str) -> None:
        if path.endswith("b.log"):
            os.unlink(path)
        if path.endswith("d.log"):
            os.unlink(job / "y.txt")
            os.symlink("nowhere", job / "y.txt")  # replaced by a dangling link meanwhile

    hooks = Hooks(before_archive=vanish)
    result = sweep(document(archive_rule(root, out)), out, hooks=hooks)
    outcome = result.outcomes[0]
    assert result.fatal is None and outcome.status == "done", outcome.problems
    stored = members(Path(outcome.archive))
    assert set(stored) == {"a.log", "c.log", "d.log", "d.log/x.txt", "d.log/y.txt"}, (
        "the files that stayed must be archived although one vanished"
    )
    assert not a.exists() and not c.exists() and not job.exists()
    assert any("b.log: vanished before it was archived; skipped" in p for p in outcome.problems)
    assert (outcome.deleted_files, outcome.deleted_dirs) == (4, 1), (
        "a.log, c.log, x.txt and the y.txt link, then the folder d.log"
    )


def test_a_file_changed_after_archiving_is_kept(root: Path, out: Path) -> None:
    make_file(root / "a.log", 130)
    b = make_file(root / "b.log", 100)

    def grow(path: str) -> None:
        with open(b, "ab") as handle:
            handle.write(b"appended after archiving")

    result = sweep(document(archive_rule(root, out)), out, hooks=Hooks(after_archive=grow))
    outcome = result.outcomes[0]
    assert not (root / "a.log").exists()
    assert b.read_bytes().endswith(b"appended after archiving")
    assert outcome.kept == 1
    assert any("b.log changed after it was archived; kept" in p for p in outcome.problems)


def test_an_archive_that_fails_before_it_is_named_leaves_no_file_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    source = make_file(tmp_path / "a.log", 1, 100)
    final = tmp_path / "out.tar.bz2"
    writer = ArchiveWriter(str(final))
    writer.add(str(source), "a.log")

    def boom() -> None:
        raise OSError("disk went away")

    with pytest.raises(ArchiveError, match="disk went away"):
        writer.commit(before_rename=boom)
    assert sorted(os.listdir(tmp_path)) == ["a.log"]


def test_verification_catches_an_archive_that_differs_from_its_record(tmp_path: Path) -> None:
    source = make_file(tmp_path / "a.log", 1, 100)
    final = tmp_path / "good.tar.bz2"
    writer = ArchiveWriter(str(final))
    writer.add(str(source), "a.log")
    writer.commit()
    recorded = list(writer.members)
    verify_archive(str(final), recorded)
    with pytest.raises(ArchiveError, match="1 member\\(s\\) missing"):
        verify_archive(str(final), recorded * 2)
    recorded[0].sha256 = "0" * 64
    with pytest.raises(ArchiveError, match="differs from its source"):
        verify_archive(str(final), recorded)


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from cdr_dagster.sweeper.actions import Hooks
    from cdr_dagster.sweeper.spec import parse_sweep_specifications
    from cdr_dagster.sweeper.sweep import SweepOptions, run_sweep
    from cdr_dagster_tests.test_file_sweeper_helpers import NOW, TZ

    xml, out, when = sys.argv[1], sys.argv[2], sys.argv[3]
    deleted = []

    def before_archive(path):
        if when == "mid-archive" and path.endswith("f3.log"):
            os._exit(17)

    def after_archive(path):
        if when == "after-archive":
            os._exit(17)

    def before_delete(path):
        deleted.append(path)
        if when == "mid-delete" and len(deleted) == 3:
            os._exit(17)

    config = parse_sweep_specifications(open(xml).read(), xml, now=NOW, tz=TZ, basedir=out)
    options = SweepOptions(tier="DEV", test_mode=False, output_dir=out, now=NOW, tz=TZ,
                           hooks=Hooks(before_archive=before_archive, after_archive=after_archive,
                                       before_delete=before_delete))
    run_sweep(config, options)
    """
)


@pytest.mark.parametrize("when", ["after-archive", "mid-delete"])
def test_a_crash_between_archiving_and_deleting_loses_nothing(
    root: Path, out: Path, tmp_path: Path, when: str
) -> None:
    originals = {}
    for n in range(6):
        path = make_file(root / f"f{n}.log", 130 + n, 300 + n)
        originals[f"f{n}.log"] = path.read_bytes()
    job = make_dir(root / "g.log", 150, {"inner.txt": 40})
    originals["g.log/inner.txt"] = (job / "inner.txt").read_bytes()
    config = tmp_path / "rules.xml"
    config.write_text(document(archive_rule(root, out)))
    child = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(config), str(out), when],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 17, child.stderr
    archives = [p for p in out.iterdir() if p.name.endswith(".tar.bz2")]
    assert len(archives) == 1  # complete, under its final name; no partial file left named so
    stored = members(archives[0])
    for relative, content in originals.items():
        on_disk = root / relative
        if on_disk.exists():
            assert on_disk.read_bytes() == content
        else:
            assert stored[relative] == content, relative
    if when == "mid-delete":
        assert any(not (root / r).exists() for r in originals)


def test_a_partial_archive_left_by_a_killed_sweep_is_removed_and_reported_next_run(
    root: Path, out: Path, tmp_path: Path
) -> None:
    for n in range(6):
        make_file(root / f"f{n}.log", 130 + n, 20000 + n)
    config = tmp_path / "rules.xml"
    config.write_text(document(archive_rule(root, out)))
    child = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(config), str(out), "mid-archive"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 17, child.stderr
    (partial,) = [p for p in out.iterdir() if p.name.endswith(".partial")]
    assert partial.name.startswith(".Arch.") and len(os.listdir(root)) == 6
    # somebody else's file of the same shape but another stem is not the sweeper's
    other = out / ".Other.20240101-20240102.tar.bz2.0123456789ab.partial"
    other.write_bytes(b"not ours")
    size = partial.stat().st_size

    preview = sweep(document(archive_rule(root, out)), out, test_mode=True)
    assert partial.exists(), "test mode changes nothing"
    assert preview.outcomes[0].stale_partials == 1

    result = sweep(document(archive_rule(root, out)), out)
    outcome = result.outcomes[0]
    assert not partial.exists(), "the stale partial archive was not removed"
    assert other.exists(), "a file the sweeper did not write was removed"
    assert outcome.stale_partials == 1 and result.totals()["stale_partials_removed"] == 1
    assert f"removed stale partial archive {partial} ({size} bytes)" in outcome.actions
    assert [p.name for p in out.iterdir() if p.name.endswith(".tar.bz2")], "the archive was made"


# --- Delete ---------------------------------------------------------------------------------


def test_delete_removes_whole_folder_trees_older_than_youngest(root: Path, out: Path) -> None:
    old = make_dir(root / "work-1", 50, {"trials.json": 100})
    make_dir(old / "deep", 50, {"x": 5})
    os.utime(old, (age(50), age(50)))
    make_dir(root / "work-2", 35, {"trials.json": 100})
    make_dir(root / "work-3", 3, {"trials.json": 100})
    xml = rule_xml("CT.gov", "Delete", root, ["work-*"], output="delete", Oldest=45, Youngest=30)
    result = sweep(document(xml), out)
    assert sorted(os.listdir(root)) == ["work-3"]
    outcome = result.outcomes[0]
    assert (outcome.deleted_dirs, outcome.deleted_files, outcome.bytes_freed) == (2, 3, 205)
    assert not out.joinpath("delete").exists()


def test_delete_with_youngest_only_needs_no_trigger(root: Path, out: Path) -> None:
    make_file(root / "tmp1.html", 12)
    make_file(root / "tmp2.html", 8)
    make_file(root / "tmp3.html", 2)
    make_file(root / ".tmp4.html", 30)  # dot files only match patterns starting with a dot
    xml = rule_xml("Temp pages", "Delete", root, ["tmp*.html"], Youngest=7)
    sweep(document(xml), out)
    assert sorted(os.listdir(root)) == [".tmp4.html", "tmp3.html"]


def test_delete_by_size_qualifies_bigger_than_smallest_once_one_reaches_biggest(
    root: Path, out: Path
) -> None:
    make_file(root / "a.dump", 1, 500)
    make_file(root / "b.dump", 1, 300)
    make_file(root / "c.dump", 1, 100)
    xml = rule_xml("Dumps", "Delete", root, ["*.dump"], Biggest=600, Smallest=200)
    result = sweep(document(xml), out)
    assert result.outcomes[0].status == "not triggered"  # nothing reaches 600
    xml = rule_xml("Dumps", "Delete", root, ["*.dump"], Biggest=500, Smallest=200)
    sweep(document(xml), out)
    assert sorted(os.listdir(root)) == ["c.dump"]


def test_delete_in_test_mode_changes_nothing(root: Path, out: Path) -> None:
    make_dir(root / "work-1", 50, {"trials.json": 100})
    make_file(root / "work-2", 60)
    before = listing(root)
    xml = rule_xml("CT.gov", "Delete", root, ["work-*"], Oldest=45, Youngest=30)
    result = sweep(document(xml), out, test_mode=True)
    assert listing(root) == before
    assert not out.exists()
    assert result.outcomes[0].deleted_dirs == 1 and result.outcomes[0].deleted_files == 2


def test_patterns_matching_the_same_path_act_on_it_once(root: Path, out: Path) -> None:
    make_file(root / "a.log", 40)
    xml = rule_xml("Twice", "Delete", root, ["a.*", "*.log"], Youngest=7)
    result = sweep(document(xml), out)
    assert result.outcomes[0].matched == 1 and result.outcomes[0].deleted_files == 1
    assert result.outcomes[0].problems == []


def test_a_missing_root_is_reported_and_the_other_rules_still_run(
    root: Path, out: Path, tmp_path: Path
) -> None:
    make_file(root / "a.log", 40)
    missing = rule_xml("Gone", "Delete", tmp_path / "nowhere", ["*"], Youngest=7)
    present = rule_xml("Here", "Delete", root, ["*.log"], Youngest=7)
    result = sweep(document(missing, present), out)
    assert result.fatal is None
    assert result.outcomes[0].status == "root missing"
    assert "Unable to cd to root" in result.outcomes[0].problems[0]
    assert result.outcomes[1].deleted_files == 1


def test_relative_roots_are_below_the_base_folder(tmp_path: Path, out: Path) -> None:
    base = tmp_path / "cdr"
    make_file(base / "Log" / "old.log", 40)
    xml = rule_xml("Rel", "Delete", "Log", ["*.log"], Youngest=7)
    config = parse(document(xml), base)
    assert config.rules[0].root == str(base / "Log")
    run_sweep(
        config, SweepOptions(tier="DEV", test_mode=False, output_dir=str(out), now=NOW, tz=TZ)
    )
    assert not (base / "Log" / "old.log").exists()


# --- symbolic links -------------------------------------------------------------------------


def test_symbolic_links_out_of_the_root_are_left_alone(
    root: Path, out: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    secret = make_file(outside / "secret.log", 400)
    make_dir(outside / "dir", 400, {"precious.log": 10})
    (root / "link.log").symlink_to(secret)
    (root / "dirlink.log").symlink_to(outside / "dir")
    (root / "sub").symlink_to(outside)  # a folder on the way out
    make_file(root / "mine.log", 400)
    before_outside = listing(outside)
    xml = rule_xml("All logs", "Delete", root, ["*.log", "sub/*.log"], Youngest=7)
    result = sweep(document(xml), out)
    outcome = result.outcomes[0]
    assert listing(outside) == before_outside
    assert (root / "link.log").is_symlink() and (root / "dirlink.log").is_symlink()
    assert not (root / "mine.log").exists()
    refused = "\n".join(outcome.problems)
    assert "link.log: symbolic link to" in refused and "outside the root; left alone" in refused
    assert f"{root}/sub: symbolic link to {outside}, outside the root; left alone" in refused
    assert len(outcome.problems) == 3  # link.log, dirlink.log, and sub (not entered)


def swap_for_link(folder: Path, outside: Path) -> None:
    """Replace ``folder`` by a symbolic link to ``outside`` (what an attacker, or a careless
    operator, may do between the scan and the removal)."""
    folder.rename(folder.with_name(folder.name + ".moved"))
    folder.symlink_to(outside, target_is_directory=True)


# dir_fd: removal relative to open folders (POSIX); False: the real-path re-check (Windows)
@pytest.mark.parametrize("dir_fd", [True, False], ids=["dir_fd", "realpath-recheck"])
@pytest.mark.parametrize("action", ["Delete", "Archive", "TruncateDelete"])
def test_a_folder_swapped_for_a_link_after_the_scan_leads_no_removal_outside_the_root(
    root: Path, out: Path, tmp_path: Path, dir_fd: bool, action: str
) -> None:
    if dir_fd and not DIR_FD_SUPPORTED:
        pytest.skip("this platform has no dir_fd")
    outside = tmp_path / "outside"
    for name in ("a.log", "b.log"):
        make_file(outside / name, 400, 300)
        make_file(root / "logs" / name, 400, 300)
    job = make_dir(root / "jobs" / "Job1", 400, {"x.log": 10})
    make_dir(outside / "Job1", 400, {"x.log": 10})
    before_outside = listing(outside)
    swapped: list[str] = []

    def swap(path: str) -> None:
        if not swapped:
            swapped.append(path)
            swap_for_link(Path(path).parent, outside)

    numbers = {"Youngest": 7} if action != "Archive" else {"Oldest": 120, "Youngest": 90}
    if action == "TruncateDelete":
        numbers = {"Biggest": 200, "Smallest": 100}
    patterns = ["logs/*.log"] + (["jobs/Job*"] if action != "TruncateDelete" else [])
    output = out / "Arch" if action == "Archive" else None
    xml = rule_xml("Swapped", action, root, patterns, output=output, **numbers)
    result = sweep(document(xml), out, hooks=Hooks(before_delete=swap), dir_fd=dir_fd)
    outcome = result.outcomes[0]
    assert result.fatal is None, result.fatal
    assert swapped, "the removal never started"
    assert listing(outside) == before_outside, (
        f"{action} changed files outside the root after a folder was swapped for a link"
    )
    refused = [p for p in outcome.problems if "left alone" in p or "replaced" in p]
    assert refused, f"the refusal is not reported: {outcome.problems}"
    if action == "Delete":
        # the other folder was not swapped: its tree still goes
        assert not job.exists() and outcome.deleted_dirs == 1


def test_links_inside_swept_folders_are_removed_or_stored_never_followed(
    root: Path, out: Path, tmp_path: Path
) -> None:
    outside = make_dir(tmp_path / "outside", 400, {"precious.log": 10})
    doomed = make_dir(root / "work-1", 50, {"a": 1})
    (doomed / "escape").symlink_to(outside)
    os.utime(doomed, (age(50), age(50)))
    archived = make_dir(root / "Job0001", 200, {"b": 1})
    (archived / "escape").symlink_to(outside)
    os.utime(archived, (age(200), age(200)))
    before = listing(outside)
    delete = rule_xml("Work", "Delete", root, ["work-*"], Youngest=30)
    archive = rule_xml(
        "Jobs", "Archive", root, ["Job????"], output=out / "J", Oldest=120, Youngest=90
    )
    result = sweep(document(delete, archive), out)
    assert listing(outside) == before
    assert sorted(os.listdir(root)) == []
    with tarfile.open(result.outcomes[1].archive, "r:bz2") as tar:
        link = tar.getmember("Job0001/escape")
        assert link.issym() and link.linkname == str(outside)
        assert "Job0001/escape/precious.log" not in tar.getnames()


def test_a_link_inside_the_root_is_deleted_as_a_link(root: Path, out: Path) -> None:
    target = make_dir(root / "keep", 1, {"data": 10})
    (root / "old-link").symlink_to(target)
    os.utime(root / "old-link", (age(100), age(100)), follow_symlinks=False)
    os.utime(target, (age(100), age(100)))
    xml = rule_xml("Links", "Delete", root, ["old-*"], Youngest=7)
    sweep(document(xml), out)
    assert not (root / "old-link").exists()
    assert (target / "data").exists()


# --- truncation -----------------------------------------------------------------------------


def truncate_rule(root: Path, out: Path, action: str = "TruncateArchive", **kw) -> str:
    numbers = {"Biggest": 600000, "Smallest": 300000} | kw
    return rule_xml("Logs", action, root, ["L1", "L2"], output=out / "Arch", **numbers)


def test_truncate_archive_keeps_the_tails_and_archives_the_heads(root: Path, out: Path) -> None:
    l1 = make_file(root / "L1", 1, data=os.urandom(1_000_000))
    l2 = make_file(root / "L2", 1, data=os.urandom(400_000))
    small = make_file(root / "L3", 1, data=b"short")
    one, two = l1.read_bytes(), l2.read_bytes()
    l1.chmod(0o640)
    result = sweep(document(truncate_rule(root, out)), out)
    assert l1.read_bytes() == one[-300_000:]
    assert l2.read_bytes() == two[-300_000:]
    assert small.read_bytes() == b"short"
    assert oct(l1.stat().st_mode & 0o777) == "0o640"
    archive = out / f"Arch.{day_of(NOW)}.tar.bz2"
    assert members(archive) == {"L1": one[:700_000], "L2": two[:100_000]}
    outcome = result.outcomes[0]
    assert (outcome.truncated, outcome.bytes_freed, outcome.qualified_bytes) == (
        2,
        800_000,
        800_000,
    )
    assert not any(p.name.endswith(".Truncation") for p in root.iterdir())


def test_truncation_waits_until_a_file_reaches_biggest(root: Path, out: Path) -> None:
    make_file(root / "L1", 1, 500_000)
    make_file(root / "L2", 1, 400_000)
    before = listing(root)
    result = sweep(document(truncate_rule(root, out)), out)
    assert result.outcomes[0].status == "not triggered"
    assert listing(root) == before
    assert not out.joinpath(f"Arch.{day_of(NOW)}.tar.bz2").exists()


def test_truncation_in_test_mode_leaves_no_trace(root: Path, out: Path) -> None:
    make_file(root / "L1", 1, 1_000_000)
    make_file(root / "L2", 1, 400_000)
    out.mkdir()
    before, before_out = listing(root), listing(out)
    result = sweep(document(truncate_rule(root, out)), out, test_mode=True)
    assert listing(root) == before and listing(out) == before_out
    outcome = result.outcomes[0]
    assert outcome.archive == str(out / f"Arch.{day_of(NOW)}.tar.bz2")
    assert outcome.truncated == 2 and outcome.bytes_freed == 800_000
    assert "would truncate" in outcome.actions[0]


def test_truncate_delete_keeps_the_tail_and_writes_no_archive(root: Path, out: Path) -> None:
    l1 = make_file(root / "L1", 1, data=os.urandom(700_000))
    data = l1.read_bytes()
    make_file(root / "L1.Truncation", 1, 10)  # left by a legacy test run: overwritten
    xml = rule_xml("Logs", "TruncateDelete", root, ["L1"], Biggest=600000, Smallest=300000)
    result = sweep(document(xml), out)
    assert l1.read_bytes() == data[-300_000:]
    assert not (root / "L1.Truncation").exists()
    assert not out.exists() or not any(out.iterdir())
    assert any("overwriting old temporary output" in m for m in result.outcomes[0].messages)


def test_truncation_refuses_links_and_folders(root: Path, out: Path, tmp_path: Path) -> None:
    real = make_file(root / "real.log", 1, 1000)
    (root / "L1").symlink_to(real)
    make_dir(root / "L2", 1)
    xml = rule_xml("Logs", "TruncateDelete", root, ["L1", "L2"], Biggest=1, Smallest=10)
    result = sweep(document(xml), out)
    assert real.stat().st_size == 1000
    assert any("L1: not a regular file; not truncated" in p for p in result.outcomes[0].problems)


# --- tiers ----------------------------------------------------------------------------------


def test_rules_for_other_tiers_are_validated_but_not_run(root: Path, out: Path) -> None:
    make_file(root / "a.log", 40)
    prod = rule_xml("Prod only", "Delete", root, ["*.log"], tiers="PROD", Youngest=7)
    result = sweep(document(prod), out)
    assert result.outcomes == [] and [r.name for r in result.inactive] == ["Prod only"]
    assert (root / "a.log").exists()
    result = sweep(document(prod), out, tier="PROD")
    assert not (root / "a.log").exists()

    bad_prod = rule_xml(
        "Bad prod", "Archive", root, ["*.log"], tiers="PROD", output="x", Oldest=120
    )
    with pytest.raises(SweepSpecError, match="Archive needs both <Oldest> and <Youngest>"):
        parse(document(bad_prod))


# --- lock -----------------------------------------------------------------------------------


def test_the_lock_file_is_exclusive_and_released_only_by_its_owner(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "Log")
    first = SweepLock(path)
    first.acquire("run one")
    assert path.exists() and "run one" in path.read_text()
    second = SweepLock(path)
    with pytest.raises(LockHeldError, match="another copy of FileSweeper is currently running"):
        second.acquire("run two")
    assert not second.release()
    assert path.exists()
    assert first.release() and not path.exists()

    first.acquire("run one again")
    assert SweepLock(path).break_lock()  # the admin page's "Clear FileSweeper Lock File"
    third = SweepLock(path)
    third.acquire("run three")
    assert not first.release()  # no longer its file
    assert path.exists() and third.release()


# --- validation -----------------------------------------------------------------------------

GOOD_ARCHIVE = (
    "<Action>Archive</Action><InputRoot>/cdr/Log</InputRoot>"
    "<InputFiles><File>*.log</File></InputFiles><OutputFile>/cdr/Archive/Logs</OutputFile>"
)


def one_rule(body: str, attrs: str = "") -> str:
    return (
        f"<SweepSpecifications>\n<SweepSpec{attrs}>\n{body}\n</SweepSpec>\n</SweepSpecifications>"
    )


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            one_rule(
                f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest><Youngest>90</Youngest><Bogus/>"
            ),
            'SweepSpec 1 "A" (line 3): unknown element <Bogus>',
        ),
        (
            one_rule(
                f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest><Youngest>90</Youngest>",
                ' Tier="DEV"',
            ),
            "unknown attribute Tier='DEV'",
        ),
        (
            one_rule(
                f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest><Youngest>90</Youngest>",
                ' Tiers="DEV prod"',
            ),
            "Tiers value 'prod' is not a CDR tier",
        ),
        (
            one_rule(
                f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest>\n<Oldest>150</Oldest><Youngest>90</Youngest>"
            ),
            "<Oldest> given twice (first at line 3)",
        ),
        (one_rule(f"{GOOD_ARCHIVE}<Oldest>120</Oldest><Youngest>90</Youngest>"), "no <Name>"),
        (
            one_rule(
                "<Name>A</Name><InputRoot>/cdr</InputRoot><InputFiles><File>x</File></InputFiles>"
            ),
            "no <Action>",
        ),
        (one_rule("<Name>A</Name><Action>Shred</Action>"), "<Action> 'Shred' is not one of"),
        (
            one_rule("<Name>A</Name><Action>Delete</Action><InputRoot>/cdr</InputRoot>"),
            "no <File> in <InputFiles>",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Delete</Action><InputRoot>/cdr</InputRoot><InputFiles><File>x</File><Glob>y</Glob></InputFiles>"
            ),
            "unknown element <Glob> in <InputFiles>",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Archive</Action><InputRoot>/cdr</InputRoot><InputFiles><File>x</File></InputFiles><Oldest>120</Oldest><Youngest>90</Youngest>"
            ),
            "no <OutputFile> for Action Archive",
        ),
        (
            one_rule(f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest>"),
            "Archive needs both <Oldest> and <Youngest>",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>TruncateArchive</Action><InputRoot>/cdr</InputRoot><InputFiles><File>x</File></InputFiles><OutputFile>o</OutputFile><Biggest>100</Biggest><Smallest>0</Smallest>"
            ),
            "TruncateArchive needs non-zero <Biggest> and <Smallest>",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Custom</Action><CustomProc>expireMeetingRecordings</CustomProc>"
            ),
            "Custom expireMeetingRecordings needs <Oldest>",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Custom</Action><CustomProc>shredAll</CustomProc><Oldest>9</Oldest>"
            ),
            "<CustomProc> 'shredAll' is not one of",
        ),
        (
            one_rule(f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>0</Oldest><Youngest>90</Youngest>"),
            "a date >= the current date (<Oldest> 0, <Youngest> 90",
        ),
        (
            one_rule(f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>4000</Oldest><Youngest>90</Youngest>"),
            "<Oldest> 4000 days is older than 10 years",
        ),
        (
            one_rule(
                f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest><Youngest>90</Youngest><Biggest>5</Biggest>"
            ),
            "can't specify both big/small",
        ),
        (
            one_rule(f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>12O</Oldest><Youngest>90</Youngest>"),
            "<Oldest> value '12O' (line 3) is not a whole number",
        ),
        (
            one_rule(f"<Name>A</Name>{GOOD_ARCHIVE}<Oldest>120</Oldest><Youngest>-90</Youngest>"),
            "<Youngest> value '-90' (line 3) is negative",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Delete</Action><InputRoot>/cdr/Log</InputRoot><InputFiles><File>../etc/*</File></InputFiles><Youngest>9</Youngest>"
            ),
            "<File> '../etc/*' (line 3) climbs out of its root",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Delete</Action><InputRoot>/cdr/Log</InputRoot><InputFiles><File>/etc/*</File></InputFiles><Youngest>9</Youngest>"
            ),
            "<File> '/etc/*' (line 3) is outside its <InputRoot> '/cdr/Log'",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Delete</Action><InputRoot>/</InputRoot><InputFiles><File>*</File></InputFiles><Youngest>9</Youngest>"
            ),
            "<InputRoot> '/' is the root of a file system",
        ),
        (
            one_rule(
                "<Name>A</Name><Action>Delete</Action><InputFiles><File>*</File></InputFiles><Youngest>9</Youngest>"
            ),
            "no <InputRoot>",
        ),
        (
            "<SweepRules/>",
            "SweepSpecifications not found at root of test rules (found <SweepRules>)",
        ),
        ("<SweepSpecifications><SweepSpec>", "test rules is not well-formed XML"),
        ("<SweepSpecifications><Junk/></SweepSpecifications>", "unknown element <Junk> (line 1)"),
    ],
)
def test_validation_errors_name_the_rule_the_value_and_the_line(xml: str, expected: str) -> None:
    with pytest.raises(SweepSpecError) as caught:
        parse(xml)
    assert any(expected in error for error in caught.value.errors), caught.value.errors


def test_every_problem_in_the_document_is_reported_at_once() -> None:
    xml = document(
        rule_xml("First", "Archive", "/cdr/a", ["*"], output="x", Oldest=120),
        rule_xml("Second", "Delete", "/cdr/b", ["*"], Youngest="many"),
    )
    with pytest.raises(SweepSpecError) as caught:
        parse(xml)
    errors = caught.value.errors
    assert len(errors) == 2
    assert errors[0].startswith('SweepSpec 1 "First" (line 3)')
    assert errors[1].startswith('SweepSpec 2 "Second"') and "'many'" in errors[1]


def test_a_valid_document_reads_every_element() -> None:
    xml = document(
        '<SweepSpec Tiers="PROD STAGE" xmlns:cdr="cips.nci.nih.gov/cdr" cdr:id="_1">'
        "<Name> Logs </Name><Action>TruncateArchive</Action>"
        "<InputRoot>\\cdr\\Log</InputRoot><InputFiles><File>BatchJobs.log</File>"
        "<Comment>why</Comment><File>sub\\publish.log</File></InputFiles>"
        "<OutputFile>/cdr/Archive/LogTruncate</OutputFile><Biggest>600000</Biggest>"
        "<Smallest><![CDATA[300000]]></Smallest><Comment>note</Comment></SweepSpec>",
        rule_xml("Recordings", "Custom", None, custom="expireMeetingRecordings", Oldest=90),
    )
    config = parse(xml, "/cdr")
    logs, recordings = config.rules
    assert logs.name == "Logs" and logs.tiers == frozenset({"PROD", "STAGE"})
    assert logs.root == "/cdr/Log"
    assert logs.patterns == ("BatchJobs.log", "sub/publish.log")
    assert (logs.biggest, logs.smallest, logs.output_file) == (
        600000,
        300000,
        "/cdr/Archive/LogTruncate",
    )
    assert (
        recordings.custom_proc == "expireMeetingRecordings" and recordings.old == REF - 90 * 86400
    )
    assert config.active_rules("DEV") == [recordings]


# --- many files: the lists spill to a temporary file ----------------------------------------


def test_a_rule_matching_many_files_spills_and_still_acts_on_each_once(
    root: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdr_dagster.sweeper import spill
    from cdr_dagster.sweeper.spill import SpillList

    monkeypatch.setattr(spill, "DEFAULT_LIMIT", 100)  # spill after 100 items, not 4096
    count = 347
    for n in range(count):
        folder = root / f"d{n % 10}"
        folder.mkdir(exist_ok=True)
        path = folder / f"f{n:05d}.log"
        path.write_bytes(b"%d" % n)
        os.utime(path, (age(130), age(130)))
    xml = rule_xml(
        "Many", "Archive", root, ["d*/f*", "d1/*.log"], output=out / "M", Oldest=120, Youngest=90
    )
    result = sweep(document(xml), out)
    outcome = result.outcomes[0]
    assert (outcome.matched, outcome.qualified, outcome.deleted_files) == (count, count, count)
    with tarfile.open(outcome.archive, "r:bz2") as tar:
        names = tar.getnames()
    assert len(names) == len(set(names)) == count
    assert all(not any(folder.iterdir()) for folder in root.iterdir())

    spill = SpillList(limit=3, chunk=2)
    for n in range(10):
        spill.append((f"p{n}", n))
    assert spill.spilled and len(spill) == 10
    assert list(spill) == list(spill) == [(f"p{n}", n) for n in range(10)]
    spill.close()


def test_truncation_keeps_bytes_appended_meanwhile_and_spares_a_rotated_log(
    root: Path, out: Path
) -> None:
    l1 = make_file(root / "L1", 1, data=os.urandom(1_000_000))
    l2 = make_file(root / "L2", 1, data=os.urandom(700_000))
    one, two = l1.read_bytes(), l2.read_bytes()

    def meanwhile(archive: str) -> None:
        with open(l1, "ab") as handle:  # the log is still written to
            handle.write(b"late line\n")
        l2.rename(root / "L2.1")  # the other one is rotated
        l2.write_bytes(b"fresh log\n")

    result = sweep(document(truncate_rule(root, out)), out, hooks=Hooks(after_archive=meanwhile))
    assert l1.read_bytes() == one[-300_000:] + b"late line\n"
    assert l2.read_bytes() == b"fresh log\n"
    assert (root / "L2.1").read_bytes() == two
    assert members(Path(result.outcomes[0].archive)) == {"L1": one[:700_000], "L2": two[:400_000]}
    assert any("L2 changed since it was examined" in p for p in result.outcomes[0].problems)
