"""The s/FTP server (PDQ partner distribution, its logs, Akamai NetStorage) as a Dagster resource.

Two modes with the same operations and the same semantics, chosen by configuration:

- **SSH**: paramiko SSH/SFTP to ``host`` with a key file (``CDR_SFTP_KEY_FILE``, passphrase
  from ``EnvVar("CDR_SFTP_KEY_PASSPHRASE")``) or a password (``EnvVar("CDR_SFTP_PASSWORD")``).
  The host key is checked against ``known_hosts_file`` (default: the user's known_hosts) with
  the policy ``reject`` (default), ``warn`` or ``auto-add`` (``CDR_SFTP_HOST_KEY_POLICY``);
  auto-added keys are kept for the connection only, never written back.
- **local**: ``local_dir`` (``CDR_SFTP_LOCAL_DIR``) stands in for the server, for the demo. Paths
  are taken as if the folder were the server's root (``/a/b`` and ``a/b`` both name
  ``local_dir/a/b``); a path that leaves the folder (``..``, a symbolic link) is refused.

Operations (``with sftp.connect() as session:``): ``listdir``, ``stat``, ``exists``,
``upload``/``write_bytes`` (atomic: written under a temporary name in the target folder, then
renamed over the target, so nobody sees half a file), ``download`` (atomic locally, keeps the
remote modification time), ``read_bytes``/``read_text``, ``remove``, ``rmdir``, ``rename``,
``makedirs``, ``chmod`` (optionally recursive) and ``mirror_to_local`` (the s/FTP log sync of
docs/behaviour-notes.md#sftp-log-refresh: fetch files missing locally or differing in size or mtime,
never delete).

The legacy code also ran ``chmod -R 755`` over ssh after its rsync upload
(docs/behaviour-notes.md#weekly-post-publishing,
``sftp-export-data.py``); ``chmod(path, 0o755, recursive=True)`` does that over SFTP, so no
job needs a remote shell command.
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_module
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    import paramiko

HostKeyPolicy = Literal["reject", "warn", "auto-add"]


class SftpError(Exception):
    """An s/FTP operation failed; the text names the server (or folder) and the path."""


class SftpFileNotFoundError(SftpError, FileNotFoundError):
    """The remote path does not exist."""


class SftpPathRefusedError(SftpError):
    """A path leaves the local s/FTP folder (local mode)."""


class SftpConnectError(SftpError):
    """The SSH connection failed: unknown or changed host key, login refused, no route."""


@dataclass(frozen=True)
class RemoteFile:
    """One directory entry: its name, full path, size in bytes, mtime (whole seconds, UTC)."""

    name: str
    path: str
    size: int
    mtime: int
    is_dir: bool


def _temp_name(path: str) -> str:
    """A hidden sibling of ``path`` used while a file is being written."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.part")


def _entry(folder: str, name: str, mode: int, size: int, mtime: float) -> RemoteFile:
    return RemoteFile(
        name=name,
        path=name if folder in ("", ".") else posixpath.join(folder, name),
        size=int(size or 0),
        mtime=int(mtime or 0),
        is_dir=stat_module.S_ISDIR(mode or 0),
    )


def _atomic_local_target(local: Path) -> Path:
    """The temporary file a download is written to before it replaces ``local``."""
    local.parent.mkdir(parents=True, exist_ok=True)
    return local.with_name(f".{local.name}.{uuid.uuid4().hex[:12]}.part")


class SftpSession:
    """Operations on one open connection (or on the local folder). Paths are POSIX strings."""

    where: str = ""

    # -- primitives each mode implements -------------------------------------------------------
    def listdir(self, path: str = ".") -> list[RemoteFile]:
        """Entries of folder ``path`` (no ``.``/``..``), sorted by name."""
        raise NotImplementedError

    def stat(self, path: str) -> RemoteFile:
        """The entry for ``path``; ``SftpFileNotFoundError`` when it does not exist."""
        raise NotImplementedError

    def download(self, remote: str, local: str | Path, *, preserve_mtime: bool = True) -> Path:
        """Copy ``remote`` to the local file ``local`` atomically; return the local path."""
        raise NotImplementedError

    def read_bytes(self, path: str) -> bytes:
        """The content of remote file ``path``."""
        raise NotImplementedError

    def remove(self, path: str) -> None:
        """Delete remote file ``path`` (not a folder)."""
        raise NotImplementedError

    def rmdir(self, path: str) -> None:
        """Delete the empty remote folder ``path``."""
        raise NotImplementedError

    def rename(self, old: str, new: str, *, overwrite: bool = True) -> None:
        """Rename ``old`` to ``new``; an existing ``new`` is replaced unless ``overwrite`` is
        false, in which case it is an error."""
        raise NotImplementedError

    def mkdir(self, path: str) -> None:
        """Create folder ``path`` (its parent must exist)."""
        raise NotImplementedError

    def chmod(self, path: str, mode: int, *, recursive: bool = False) -> None:
        """Set permission bits; with ``recursive`` on everything below a folder too."""
        raise NotImplementedError

    def _put(self, local: Path | None, data: bytes | None, temp: str) -> None:
        raise NotImplementedError

    # -- operations built on the primitives, identical in both modes -----------------------
    def exists(self, path: str) -> bool:
        """True when ``path`` exists (file or folder)."""
        try:
            self.stat(path)
        except SftpFileNotFoundError:
            return False
        return True

    def makedirs(self, path: str) -> None:
        """Create folder ``path`` and any missing parents (like ``mkdir -p``)."""
        parts = [part for part in path.split("/") if part not in ("", ".")]
        current = "/" if path.startswith("/") else ""
        for part in parts:
            current = posixpath.join(current, part) if current else part
            try:
                entry = self.stat(current)
            except SftpFileNotFoundError:
                self.mkdir(current)
                continue
            if not entry.is_dir:
                raise SftpError(f"{self.where}: cannot create folder {path}: {current} is a file")

    def upload(self, local: str | Path, remote: str) -> RemoteFile:
        """Copy local file ``local`` to ``remote`` atomically; return the new entry."""
        source = Path(local)
        if not source.is_file():
            raise SftpError(f"cannot upload {source}: no such local file")
        return self._atomic_put(remote, local=source)

    def write_bytes(self, remote: str, data: bytes) -> RemoteFile:
        """Write ``data`` to ``remote`` atomically; return the new entry."""
        return self._atomic_put(remote, data=data)

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """The content of remote file ``path`` decoded as ``encoding``."""
        return self.read_bytes(path).decode(encoding)

    def mirror_to_local(self, remote_dir: str, local_dir: str | Path) -> list[str]:
        """Download each file of ``remote_dir`` that is missing in ``local_dir`` or differs in
        size or mtime; never delete local files. Returns the names downloaded, sorted."""
        target = Path(local_dir)
        target.mkdir(parents=True, exist_ok=True)
        fetched = []
        for entry in self.listdir(remote_dir):
            if entry.is_dir:
                continue
            local = target / entry.name
            if local.is_file():
                info = local.stat()
                if info.st_size == entry.size and int(info.st_mtime) == entry.mtime:
                    continue
            self.download(entry.path, local)
            fetched.append(entry.name)
        return fetched

    def _atomic_put(
        self, remote: str, *, local: Path | None = None, data: bytes | None = None
    ) -> RemoteFile:
        temp = _temp_name(remote)
        try:
            self._put(local, data, temp)
            self.rename(temp, remote, overwrite=True)
        except BaseException:
            try:
                self.remove(temp)
            except (SftpError, OSError):
                pass
            raise
        return self.stat(remote)


class _LocalSession(SftpSession):
    """The local-folder stand-in for the s/FTP server."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(self.root)
        self.where = f"local s/FTP folder {self.root}"
        if not os.path.isdir(self.real_root):
            raise SftpConnectError(f"{self.where} does not exist")

    def _path(self, path: str) -> str:
        """The local path for remote ``path``; refused if it leaves the folder."""
        text = path.replace("\\", "/")
        depth = 0
        for part in text.split("/"):
            if part in ("", "."):
                continue
            depth += -1 if part == ".." else 1
            if depth < 0:
                raise SftpPathRefusedError(f"path {path!r} leaves the {self.where}; refused")
        relative = posixpath.normpath("/" + text).lstrip("/")
        if not relative:
            return self.real_root
        local = os.path.join(self.real_root, *relative.split("/"))
        parent = os.path.realpath(os.path.dirname(local))
        resolved = os.path.join(parent, os.path.basename(local))
        for candidate in (parent, os.path.realpath(resolved)):
            if os.path.commonpath([candidate, self.real_root]) != self.real_root:
                raise SftpPathRefusedError(
                    f"path {path!r} leads outside the {self.where} (symbolic link); refused"
                )
        return resolved

    def _fail(self, action: str, path: str, exc: OSError) -> SftpError:
        error_class = SftpFileNotFoundError if isinstance(exc, FileNotFoundError) else SftpError
        return error_class(f"{self.where}: cannot {action} {path}: {exc.strerror or exc}")

    def listdir(self, path: str = ".") -> list[RemoteFile]:
        local = self._path(path)
        try:
            with os.scandir(local) as entries:
                found = []
                for item in entries:
                    info = item.stat(follow_symlinks=False)
                    found.append(_entry(path, item.name, info.st_mode, info.st_size, info.st_mtime))
        except OSError as exc:
            raise self._fail("list", path, exc) from exc
        return sorted(found, key=lambda entry: entry.name)

    def stat(self, path: str) -> RemoteFile:
        local = self._path(path)
        try:
            info = os.stat(local)
        except OSError as exc:
            raise self._fail("stat", path, exc) from exc
        folder, name = posixpath.split(path.rstrip("/") or "/")
        return _entry(folder, name, info.st_mode, info.st_size, info.st_mtime)

    def _put(self, local: Path | None, data: bytes | None, temp: str) -> None:
        target = self._path(temp)
        try:
            with open(target, "xb") as handle:
                if local is not None:
                    with open(local, "rb") as source:
                        while chunk := source.read(1 << 20):
                            handle.write(chunk)
                else:
                    handle.write(data or b"")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise self._fail("write", temp, exc) from exc

    def download(self, remote: str, local: str | Path, *, preserve_mtime: bool = True) -> Path:
        source = self._path(remote)
        destination = Path(local)
        temp = _atomic_local_target(destination)
        try:
            info = os.stat(source)
            if stat_module.S_ISDIR(info.st_mode):
                raise IsADirectoryError(21, "Is a directory")
            with open(source, "rb") as reader, open(temp, "xb") as writer:
                while chunk := reader.read(1 << 20):
                    writer.write(chunk)
                writer.flush()
                os.fsync(writer.fileno())
            if preserve_mtime:
                os.utime(temp, (int(info.st_atime), int(info.st_mtime)))
            os.replace(temp, destination)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise self._fail("download", remote, exc) from exc
        return destination

    def read_bytes(self, path: str) -> bytes:
        try:
            return Path(self._path(path)).read_bytes()
        except OSError as exc:
            raise self._fail("read", path, exc) from exc

    def remove(self, path: str) -> None:
        local = self._path(path)
        try:
            if os.path.isdir(local) and not os.path.islink(local):
                raise IsADirectoryError(21, "Is a directory")
            os.unlink(local)
        except OSError as exc:
            raise self._fail("remove", path, exc) from exc

    def rmdir(self, path: str) -> None:
        local = self._path(path)
        if local == self.real_root:
            raise SftpPathRefusedError(f"{self.where}: refusing to remove the folder itself")
        try:
            os.rmdir(local)
        except OSError as exc:
            raise self._fail("remove folder", path, exc) from exc

    def rename(self, old: str, new: str, *, overwrite: bool = True) -> None:
        source, target = self._path(old), self._path(new)
        try:
            if not os.path.lexists(source):
                raise FileNotFoundError(2, "No such file")
            if not overwrite and os.path.lexists(target):
                raise FileExistsError(17, f"{new} exists")
            os.replace(source, target)
        except OSError as exc:
            raise self._fail(f"rename {old} to", new, exc) from exc

    def mkdir(self, path: str) -> None:
        try:
            os.mkdir(self._path(path))
        except OSError as exc:
            raise self._fail("create folder", path, exc) from exc

    def chmod(self, path: str, mode: int, *, recursive: bool = False) -> None:
        local = self._path(path)
        try:
            os.chmod(local, mode)
            if recursive and os.path.isdir(local):
                for folder, dirs, files in os.walk(local):
                    for name in dirs + files:
                        child = os.path.join(folder, name)
                        if not os.path.islink(child):
                            os.chmod(child, mode)
        except OSError as exc:
            raise self._fail("chmod", path, exc) from exc


class _ParamikoSession(SftpSession):
    """Operations over one paramiko SFTP channel."""

    def __init__(self, sftp: paramiko.SFTPClient, where: str) -> None:
        self.sftp = sftp
        self.where = where

    def _fail(self, action: str, path: str, exc: OSError) -> SftpError:
        error_class = SftpFileNotFoundError if isinstance(exc, FileNotFoundError) else SftpError
        return error_class(f"{self.where}: cannot {action} {path}: {exc}")

    def listdir(self, path: str = ".") -> list[RemoteFile]:
        try:
            attrs = self.sftp.listdir_attr(path)
        except OSError as exc:
            raise self._fail("list", path, exc) from exc
        found = [
            _entry(path, a.filename, a.st_mode or 0, a.st_size or 0, a.st_mtime or 0)
            for a in attrs
            if a.filename not in (".", "..")
        ]
        return sorted(found, key=lambda entry: entry.name)

    def stat(self, path: str) -> RemoteFile:
        try:
            a = self.sftp.stat(path)
        except OSError as exc:
            raise self._fail("stat", path, exc) from exc
        folder, name = posixpath.split(path.rstrip("/") or "/")
        return _entry(folder, name, a.st_mode or 0, a.st_size or 0, a.st_mtime or 0)

    def _put(self, local: Path | None, data: bytes | None, temp: str) -> None:
        import io

        try:
            if local is not None:
                self.sftp.put(str(local), temp, confirm=True)
            else:
                self.sftp.putfo(io.BytesIO(data or b""), temp, confirm=True)
        except OSError as exc:
            raise self._fail("write", temp, exc) from exc

    def download(self, remote: str, local: str | Path, *, preserve_mtime: bool = True) -> Path:
        destination = Path(local)
        temp = _atomic_local_target(destination)
        try:
            attrs = self.sftp.stat(remote)
            if stat_module.S_ISDIR(attrs.st_mode or 0):
                raise IsADirectoryError(21, "Is a directory")
            self.sftp.get(remote, str(temp))
            if preserve_mtime and attrs.st_mtime is not None:
                os.utime(temp, (int(attrs.st_atime or attrs.st_mtime), int(attrs.st_mtime)))
            os.replace(temp, destination)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise self._fail("download", remote, exc) from exc
        return destination

    def read_bytes(self, path: str) -> bytes:
        try:
            with self.sftp.open(path, "rb") as handle:
                handle.prefetch()
                return handle.read()
        except OSError as exc:
            raise self._fail("read", path, exc) from exc

    def remove(self, path: str) -> None:
        try:
            attrs = self.sftp.lstat(path)
            if stat_module.S_ISDIR(attrs.st_mode or 0):
                raise IsADirectoryError(21, "Is a directory")
            self.sftp.remove(path)
        except OSError as exc:
            raise self._fail("remove", path, exc) from exc

    def rmdir(self, path: str) -> None:
        try:
            self.sftp.rmdir(path)
        except OSError as exc:
            raise self._fail("remove folder", path, exc) from exc

    def rename(self, old: str, new: str, *, overwrite: bool = True) -> None:
        try:
            self.sftp.lstat(old)
            if not overwrite:
                if self._lexists(new):
                    raise FileExistsError(17, f"{new} exists")
                self.sftp.rename(old, new)
                return
            try:
                # Atomic replace (OpenSSH's posix-rename extension).
                self.sftp.posix_rename(old, new)
            except OSError:
                # Servers without the extension (SFTP v3 rename refuses existing targets):
                # replace in two steps.
                if self._lexists(new):
                    self.sftp.remove(new)
                self.sftp.rename(old, new)
        except OSError as exc:
            raise self._fail(f"rename {old} to", new, exc) from exc

    def _lexists(self, path: str) -> bool:
        try:
            self.sftp.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def mkdir(self, path: str) -> None:
        try:
            self.sftp.mkdir(path)
        except OSError as exc:
            raise self._fail("create folder", path, exc) from exc

    def chmod(self, path: str, mode: int, *, recursive: bool = False) -> None:
        try:
            self.sftp.chmod(path, mode)
            if recursive and stat_module.S_ISDIR(self.sftp.stat(path).st_mode or 0):
                for attrs in self.sftp.listdir_attr(path):
                    child = posixpath.join(path, attrs.filename)
                    if stat_module.S_ISLNK(attrs.st_mode or 0):
                        continue
                    if stat_module.S_ISDIR(attrs.st_mode or 0):
                        self.chmod(child, mode, recursive=True)
                    else:
                        self.sftp.chmod(child, mode)
        except OSError as exc:
            raise self._fail("chmod", path, exc) from exc


class SftpResource(dg.ConfigurableResource):
    """The s/FTP server over SSH (paramiko), or a local folder standing in for it.

    Set ``local_dir`` for the local mode; otherwise ``host`` and ``username`` are required.
    Open a connection with ``with sftp.connect() as session:``; it is always closed.
    """

    host: str = Field(default="", description="SSH/SFTP host (CDR_SFTP_HOST).")
    port: int = Field(default=22, description="SSH port (CDR_SFTP_PORT).")
    username: str = Field(default="", description="Login name (CDR_SFTP_USER).")
    key_file: str | None = Field(
        default=None, description="Private key file for the login (CDR_SFTP_KEY_FILE)."
    )
    passphrase: str | None = Field(
        default=None,
        description="Passphrase of the key file; give it as EnvVar('CDR_SFTP_KEY_PASSPHRASE').",
    )
    password: str | None = Field(
        default=None,
        description="Password when there is no key file; give it as EnvVar('CDR_SFTP_PASSWORD').",
    )
    known_hosts_file: str | None = Field(
        default=None,
        description="known_hosts file with the server's host key; "
        "default the user's ~/.ssh/known_hosts.",
    )
    host_key_policy: HostKeyPolicy = Field(
        default="reject",
        description="What to do with a host key not in known_hosts: reject (default), warn "
        "(log and accept) or auto-add (accept for this connection). A changed key is always "
        "rejected. (CDR_SFTP_HOST_KEY_POLICY)",
    )
    timeout: float = Field(default=30.0, description="Seconds to wait for the server.")
    local_dir: str | None = Field(
        default=None,
        description="When set (CDR_SFTP_LOCAL_DIR), this folder stands in for the server.",
    )

    @property
    def mode(self) -> str:
        """``"local"`` when ``local_dir`` is set, else ``"ssh"``."""
        return "local" if self.local_dir else "ssh"

    @property
    def where(self) -> str:
        """Human-readable name of the server or folder, for messages."""
        if self.local_dir:
            return f"local s/FTP folder {os.path.abspath(self.local_dir)}"
        return f"sftp://{self.username}@{self.host}:{self.port}"

    @contextmanager
    def connect(self) -> Iterator[SftpSession]:
        """An open session; the SSH connection is closed when the block ends."""
        if self.local_dir:
            yield _LocalSession(self.local_dir)
            return
        client = self._ssh_client()
        try:
            try:
                sftp = client.open_sftp()
            except Exception as exc:
                raise SftpConnectError(f"{self.where}: cannot open SFTP: {exc}") from exc
            try:
                yield _ParamikoSession(sftp, self.where)
            finally:
                sftp.close()
        finally:
            client.close()

    def _ssh_client(self) -> paramiko.SSHClient:
        """A connected paramiko client with this resource's host-key policy."""
        import paramiko

        if not self.host or not self.username:
            raise SftpConnectError(
                "the s/FTP resource needs host and username (or local_dir for the local mode)"
            )
        client = paramiko.SSHClient()
        try:
            if self.known_hosts_file:
                known_hosts = Path(self.known_hosts_file).expanduser()
                if not known_hosts.is_file():
                    raise SftpConnectError(
                        f"{self.where}: known_hosts file {known_hosts} does not exist"
                    )
                # Loaded without remembering the file name: keys are never written back.
                client.get_host_keys().load(str(known_hosts))
            else:
                client.load_system_host_keys()
            policies = {
                "reject": paramiko.RejectPolicy,
                "warn": paramiko.WarningPolicy,
                "auto-add": paramiko.AutoAddPolicy,
            }
            if self.host_key_policy not in policies:
                raise SftpConnectError(
                    f"host_key_policy {self.host_key_policy!r} is not reject, warn or auto-add"
                )
            client.set_missing_host_key_policy(policies[self.host_key_policy]())
            client.connect(
                hostname=self.host,
                port=self.port,
                username=self.username,
                key_filename=self.key_file or None,
                passphrase=self.passphrase or None,
                password=self.password or None,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                look_for_keys=not (self.key_file or self.password),
                allow_agent=not (self.key_file or self.password),
            )
        except SftpConnectError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise SftpConnectError(
                f"{self.where}: host key does not match known_hosts; refused ({exc})"
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SftpConnectError(f"{self.where}: login refused: {exc}") from exc
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise SftpConnectError(
                    f"{self.where}: host key unknown (not in "
                    f"{self.known_hosts_file or 'the known_hosts file'}) and host_key_policy "
                    "is reject; refused"
                ) from exc
            raise SftpConnectError(f"{self.where}: cannot connect: {exc}") from exc
        return client
