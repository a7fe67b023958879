"""Removing and replacing paths inside a rule's root, checked again at the moment of removal.

The scan checks that every match stays inside the rule's root, but a folder on the way can be
swapped for a symbolic link between the scan and the removal. So every removal goes through a
:class:`RootGuard`:

- where the platform supports it (``dir_fd``: Linux and the other POSIX systems), the folder
  holding the path is opened from the root's real path one component at a time with
  ``O_NOFOLLOW``, and the path is removed relative to that open folder (``unlink``,
  ``rmdir``, ``shutil.rmtree`` and ``replace`` with ``dir_fd``), so no symbolic link on the way
  is followed and the folder removed from is the one checked;
- elsewhere (Windows, where the CDR hosts run and ``dir_fd`` is absent) the real path of the
  folder holding the path is checked to be inside the root immediately before each removal.

A path whose folder now leads outside the root is not touched: :class:`OutsideRootError`
names it, and the action reports it as a problem.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from cdr_dagster.sweeper.spec import inside

#: True where folders can be opened and entries removed relative to an open folder.
DIR_FD_SUPPORTED = (
    {os.open, os.unlink, os.rmdir, os.rename, os.stat} <= os.supports_dir_fd
    and hasattr(os, "O_DIRECTORY")
    and hasattr(os, "O_NOFOLLOW")
    and shutil.rmtree.avoids_symlink_attacks
)


class OutsideRootError(OSError):
    """The folder holding a path leads outside the rule's root now; nothing was removed."""


class RootGuard:
    """Removes paths below ``root`` only while the folders on the way stay inside it.

    ``use_dir_fd``: None chooses what the platform supports; False forces the real-path
    re-check used where ``dir_fd`` is absent (tests run both).
    """

    def __init__(self, root: str, use_dir_fd: bool | None = None) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.use_dir_fd = DIR_FD_SUPPORTED if use_dir_fd is None else use_dir_fd

    def _real_parent(self, path: str) -> str:
        parent = os.path.dirname(path) or "."
        real = os.path.realpath(parent)
        if not inside(real, self.real_root):
            raise OutsideRootError(
                errno.EPERM,
                f"{path}: its folder now leads to {real}, outside the root {self.root}; left alone",
            )
        return real

    @contextmanager
    def folder(self, path: str) -> Iterator[tuple[int | None, str]]:
        """(descriptor of the folder holding ``path``, or None without ``dir_fd``; the name
        to use with it: the entry's name, or the whole path without ``dir_fd``).

        Raises :class:`OutsideRootError` when that folder is outside the root, or (with
        ``dir_fd``) a folder on the way is a symbolic link now.
        """
        real_parent = self._real_parent(path)
        if not self.use_dir_fd:
            yield None, path
            return
        relative = os.path.relpath(real_parent, self.real_root)
        fd = os.open(self.real_root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in [] if relative == "." else relative.split(os.sep):
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                        raise OutsideRootError(
                            errno.EPERM,
                            f"{path}: a folder on the way ({part}) was replaced or removed "
                            "since the scan; left alone",
                        ) from exc
                    raise
                os.close(fd)
                fd = child
            yield fd, os.path.basename(path)
        finally:
            os.close(fd)

    def lstat(self, path: str) -> os.stat_result:
        """``lstat`` of ``path`` through the checked folder."""
        with self.folder(path) as (fd, name):
            return os.lstat(name, dir_fd=fd)

    def unlink(self, path: str) -> None:
        """Remove the file or link ``path`` (a link itself, never its target)."""
        with self.folder(path) as (fd, name):
            os.unlink(name, dir_fd=fd)

    def rmdir(self, path: str) -> None:
        """Remove the empty folder ``path``."""
        with self.folder(path) as (fd, name):
            os.rmdir(name, dir_fd=fd)

    def rmtree(self, path: str, onexc) -> None:  # noqa: ANN001 - shutil's error callback
        """Remove the folder tree ``path`` without following links; errors go to ``onexc``."""
        with self.folder(path) as (fd, name):
            if sys.version_info >= (3, 12):
                shutil.rmtree(name, onexc=onexc, dir_fd=fd)
            else:
                shutil.rmtree(
                    name,
                    onerror=lambda function, failed, info: onexc(function, failed, info[1]),
                    dir_fd=fd,
                )
