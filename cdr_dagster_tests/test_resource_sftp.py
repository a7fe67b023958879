"""SftpResource against the real asyncssh SFTP server (paramiko client, key login, known_hosts)
and in its local-folder mode; the same tests run in both modes.

No postponed annotations here: Dagster reads the op's resource type hints.
"""

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import dagster as dg
import pytest

from cdr_dagster.resources.sftp import (
    SftpConnectError,
    SftpError,
    SftpFileNotFoundError,
    SftpPathRefusedError,
    SftpResource,
)
from cdr_dagster_tests.services.sftp import SftpEndpoint


@dataclass
class Target:
    """A resource and the folder on disk where its files really end up."""

    resource: SftpResource
    root: Path


def ssh_resource(endpoint: SftpEndpoint, **overrides) -> SftpResource:
    """An SftpResource on the test SFTP server with its client key and known hosts (used by
    the other SFTP tests too); ``overrides`` replace any setting."""
    settings = {
        "host": endpoint.host,
        "port": endpoint.port,
        "username": endpoint.username,
        "key_file": str(endpoint.client_key_file),
        "known_hosts_file": str(endpoint.known_hosts_file),
        "timeout": 15.0,
    }
    settings.update(overrides)
    return SftpResource(**settings)


@pytest.fixture(params=["ssh", "local"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "ssh":
        endpoint = request.getfixturevalue("sftp_server")
        yield Target(ssh_resource(endpoint), endpoint.root)
    else:
        root = tmp_path / "sftp-folder"
        root.mkdir()
        yield Target(SftpResource(local_dir=str(root)), root)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.part")]


def test_upload_list_read_download(target: Target, tmp_path: Path) -> None:
    source = tmp_path / "Summary.tar.gz"
    source.write_bytes(b"\x1f\x8b" + os.urandom(70_000))
    os.utime(source, (1_600_000_000, 1_600_000_000))
    local_copy = tmp_path / "down" / "copy.tar.gz"

    with target.resource.connect() as session:
        session.makedirs("pdq-dev/full")
        entry = session.upload(source, "pdq-dev/full/Summary.tar.gz")
        session.write_bytes("pdq-dev/notes.txt", "cáncer\n".encode())
        listing = session.listdir("pdq-dev")
        full = session.listdir("/pdq-dev/full")
        text = session.read_text("pdq-dev/notes.txt")
        data = session.read_bytes("pdq-dev/full/Summary.tar.gz")
        session.download("pdq-dev/full/Summary.tar.gz", local_copy)
        assert session.exists("pdq-dev/full")
        assert not session.exists("pdq-dev/none")

    assert entry.name == "Summary.tar.gz" and entry.size == source.stat().st_size
    assert [(e.name, e.is_dir) for e in listing] == [("full", True), ("notes.txt", False)]
    [summary] = full
    assert summary.path == "/pdq-dev/full/Summary.tar.gz"
    assert summary.size == source.stat().st_size
    on_disk = target.root / "pdq-dev" / "full" / "Summary.tar.gz"
    assert summary.mtime == int(on_disk.stat().st_mtime)
    assert text == "cáncer\n"
    assert data == source.read_bytes() == on_disk.read_bytes()
    assert local_copy.read_bytes() == source.read_bytes()
    assert int(local_copy.stat().st_mtime) == summary.mtime
    assert _leftovers(target.root) == [] and _leftovers(tmp_path / "down") == []


def test_upload_replaces_atomically(target: Target, tmp_path: Path) -> None:
    size = 8 * 1024 * 1024
    old = tmp_path / "old.bin"
    old.write_bytes(b"o" * 1000)
    new = tmp_path / "new.bin"
    new.write_bytes(b"n" * size)
    final = target.root / "full.tar.gz"
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        # Whenever the target name is visible, it must hold a whole file (old or new).
        while not done.is_set():
            try:
                with open(final, "rb") as handle:
                    seen.add(len(handle.read()))
            except FileNotFoundError:
                seen.add(-1)

    with target.resource.connect() as session:
        session.upload(old, "full.tar.gz")
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            session.upload(new, "full.tar.gz")
        finally:
            done.set()
            watcher.join()

    assert seen <= {1000, size}
    assert final.read_bytes() == new.read_bytes()
    assert _leftovers(target.root) == []


def test_failed_upload_leaves_nothing(target: Target, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")

    with target.resource.connect() as session:
        with pytest.raises(SftpError, match="no/such/dir"):
            session.upload(source, "no/such/dir/a.txt")
        with pytest.raises(SftpError, match="no such local file"):
            session.upload(tmp_path / "missing.txt", "a.txt")

    assert list(target.root.iterdir()) == []


def test_rename_remove_and_folders(target: Target) -> None:
    with target.resource.connect() as session:
        session.makedirs("a/b/c")
        session.makedirs("a/b/c")  # already there: fine
        session.write_bytes("a/one.txt", b"1")
        session.write_bytes("a/two.txt", b"2")
        with pytest.raises(SftpError, match="is a file"):
            session.makedirs("a/one.txt/x")
        with pytest.raises(SftpError, match="a/two.txt"):
            session.rename("a/one.txt", "a/two.txt", overwrite=False)
        session.rename("a/one.txt", "a/two.txt")
        assert session.read_bytes("a/two.txt") == b"1"
        session.rename("a/two.txt", "a/b/moved.txt", overwrite=False)
        with pytest.raises(SftpFileNotFoundError):
            session.rename("a/two.txt", "a/three.txt")
        with pytest.raises(SftpError):
            session.remove("a/b")  # a folder, not a file
        session.remove("a/b/moved.txt")
        with pytest.raises(SftpFileNotFoundError, match="a/b/moved.txt"):
            session.remove("a/b/moved.txt")
        with pytest.raises(SftpFileNotFoundError):
            session.read_bytes("a/b/moved.txt")
        with pytest.raises(SftpFileNotFoundError, match="nowhere"):
            session.listdir("nowhere")
        with pytest.raises(SftpFileNotFoundError):
            session.stat("nowhere")
        session.rmdir("a/b/c")
        names = [e.name for e in session.listdir("a/b")]

    assert names == []
    assert sorted(p.relative_to(target.root).as_posix() for p in target.root.rglob("*")) == [
        "a",
        "a/b",
    ]


def test_chmod_recursive(target: Target) -> None:
    with target.resource.connect() as session:
        session.makedirs("pdq/full")
        session.write_bytes("pdq/full/x.xml", b"<x/>")
        session.chmod("pdq", 0o700, recursive=True)
        assert stat.S_IMODE((target.root / "pdq/full/x.xml").stat().st_mode) == 0o700
        session.chmod("pdq", 0o755, recursive=True)

    for path in ("pdq", "pdq/full", "pdq/full/x.xml"):
        assert stat.S_IMODE((target.root / path).stat().st_mode) == 0o755


def test_mirror_to_local_fetches_new_and_changed_and_keeps_old(
    target: Target, tmp_path: Path
) -> None:
    logs = target.root / "logs"
    logs.mkdir()
    (logs / "pdq.log").write_text("line 1\n")
    (logs / "pdq.log-20250301.gz").write_bytes(b"\x1f\x8bfeb")
    os.utime(logs / "pdq.log-20250301.gz", (1_740_787_200, 1_740_787_200))
    (logs / "archive").mkdir()
    local = tmp_path / "sftp_log"
    local.mkdir()
    (local / "pdq.log-20250201.gz").write_bytes(b"january, gone from the server")

    with target.resource.connect() as session:
        first = session.mirror_to_local("logs", local)
        second = session.mirror_to_local("logs", local)
        (logs / "pdq.log").write_text("line 1\nline 2\n")
        third = session.mirror_to_local("logs", local)

    assert first == ["pdq.log", "pdq.log-20250301.gz"]
    assert second == []
    assert third == ["pdq.log"]
    assert (local / "pdq.log").read_text() == "line 1\nline 2\n"
    assert int((local / "pdq.log-20250301.gz").stat().st_mtime) == 1_740_787_200
    assert sorted(p.name for p in local.iterdir()) == [
        "pdq.log",
        "pdq.log-20250201.gz",
        "pdq.log-20250301.gz",
    ]


def test_in_a_job(target: Target) -> None:
    @dg.op
    def publish_sitemap(sftp: SftpResource) -> int:
        with sftp.connect() as session:
            session.makedirs("sitemaps")
            entry = session.write_bytes("sitemaps/dictionaries.xml", b"<urlset/>")
        return entry.size

    @dg.job
    def sitemap_job() -> None:
        publish_sitemap()

    result = sitemap_job.execute_in_process(resources={"sftp": target.resource})

    assert result.output_for_node("publish_sitemap") == len(b"<urlset/>")
    assert (target.root / "sitemaps" / "dictionaries.xml").read_bytes() == b"<urlset/>"


# -- SSH mode only ----------------------------------------------------------------------------


def test_unknown_host_key_is_rejected(sftp_server: SftpEndpoint, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    resource = ssh_resource(sftp_server, known_hosts_file=str(empty))

    with pytest.raises(SftpConnectError, match="host key unknown") as caught:
        with resource.connect():
            pass
    assert f"{sftp_server.host}:{sftp_server.port}" in str(caught.value)


def test_changed_host_key_is_rejected_whatever_the_policy(
    sftp_server: SftpEndpoint, tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[{sftp_server.host}]:{sftp_server.port} {other}\n")

    for policy in ("reject", "auto-add"):
        resource = ssh_resource(sftp_server, known_hosts_file=str(wrong), host_key_policy=policy)
        with pytest.raises(SftpConnectError, match="does not match"):
            with resource.connect():
                pass


def test_auto_add_and_warn_accept_an_unknown_host(
    sftp_server: SftpEndpoint, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    resource = ssh_resource(sftp_server, known_hosts_file=str(empty), host_key_policy="auto-add")
    with resource.connect() as session:
        session.write_bytes("auto-add.txt", b"ok")
    resource = ssh_resource(sftp_server, known_hosts_file=str(empty), host_key_policy="warn")
    with pytest.warns(UserWarning, match="Unknown ssh-ed25519 host key"):
        with resource.connect() as session:
            session.write_bytes("warn.txt", b"ok")

    assert empty.read_text() == ""  # nothing is written back
    assert sorted(p.name for p in sftp_server.root.iterdir()) == ["auto-add.txt", "warn.txt"]


def test_wrong_key_and_missing_known_hosts(sftp_server: SftpEndpoint, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    stranger.chmod(0o600)

    with pytest.raises(SftpConnectError, match="login refused"):
        with ssh_resource(sftp_server, key_file=str(stranger)).connect():
            pass
    with pytest.raises(SftpConnectError, match="known_hosts file .* does not exist"):
        with ssh_resource(sftp_server, known_hosts_file=str(tmp_path / "nope")).connect():
            pass
    with pytest.raises(SftpConnectError, match="needs host and username"):
        with SftpResource().connect():
            pass


def test_paramiko_is_imported_only_when_connecting() -> None:
    code = "import sys, cdr_dagster.resources.sftp; print('paramiko' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "False"


# -- local mode only --------------------------------------------------------------------------


def test_local_paths_cannot_leave_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "sftp-folder"
    root.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (root / "inside.txt").write_text("fine")
    (root / "link-out").symlink_to(tmp_path)
    (root / "file-out").symlink_to(outside)
    resource = SftpResource(local_dir=str(root))

    with resource.connect() as session:
        for path in ("../secret.txt", "/../secret.txt", "a/../../secret.txt", "..", "../"):
            with pytest.raises(SftpPathRefusedError) as caught:
                session.read_bytes(path)
            assert repr(path) in str(caught.value)
        for path in ("link-out/secret.txt", "file-out"):
            with pytest.raises(SftpPathRefusedError, match="symbolic link"):
                session.read_bytes(path)
        with pytest.raises(SftpPathRefusedError):
            session.write_bytes("../planted.txt", b"x")
        with pytest.raises(SftpPathRefusedError):
            session.listdir("link-out")
        with pytest.raises(SftpPathRefusedError):
            session.download("../secret.txt", tmp_path / "copy.txt")
        with pytest.raises(SftpPathRefusedError):
            session.rename("inside.txt", "../moved.txt")
        # Paths that stay inside are fine, absolute ones are taken from the folder's root.
        assert session.read_text("/inside.txt") == "fine"
        assert session.read_text("x/../inside.txt") == "fine"

    assert outside.read_text() == "secret"
    assert not (tmp_path / "planted.txt").exists()
    assert not (tmp_path / "moved.txt").exists()


def test_missing_local_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SftpConnectError, match="does not exist"):
        with SftpResource(local_dir=str(tmp_path / "absent")).connect():
            pass
