"""A list that moves to a temporary file once it grows large, so a sweep's memory stays flat.

A rule may match hundreds of thousands of paths, and everything that qualifies has to be known
before the rule is acted on (the trigger looks at all of them). :class:`SpillList` keeps the
first ``limit`` items in memory; the rest go, pickled in chunks of ``chunk`` items (each
after its length), to an anonymous temporary file, removed when the list is closed or
collected. Iterating reads them back in order, one chunk at a time.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
from collections.abc import Iterator
from typing import IO, Any

DEFAULT_LIMIT = 4096
CHUNK = 1024
_LENGTH = struct.Struct("<I")


class SpillList:
    """Append-only, iterable many times, memory bounded by ``limit`` + ``chunk`` items."""

    def __init__(self, limit: int | None = None, chunk: int = CHUNK) -> None:
        self.limit = DEFAULT_LIMIT if limit is None else limit
        self.chunk = chunk
        self._memory: list[Any] = []
        self._pending: list[Any] = []
        self._chunks = 0
        self._file: IO[bytes] | None = None
        self._length = 0

    def append(self, item: Any) -> None:
        self._length += 1
        if len(self._memory) < self.limit:
            self._memory.append(item)
            return
        self._pending.append(item)
        if len(self._pending) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="cdr-sweep-")
        data = pickle.dumps(self._pending, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_LENGTH.pack(len(data)))
        self._file.write(data)
        self._chunks += 1
        self._pending = []

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    @property
    def spilled(self) -> bool:
        """True once items went to the temporary file."""
        return self._file is not None

    def __iter__(self) -> Iterator[Any]:
        yield from self._memory
        if self._file is not None:
            # One reader at a time: the file position is shared (the sweep reads each list
            # once per pass and never appends while reading).
            handle = self._file
            handle.flush()
            handle.seek(0)
            try:
                for _ in range(self._chunks):
                    (size,) = _LENGTH.unpack(handle.read(_LENGTH.size))
                    yield from pickle.loads(handle.read(size))
            finally:
                handle.seek(0, 2)
        yield from list(self._pending)

    def close(self) -> None:
        """Drop the temporary file (also done when the list is collected)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory, self._pending = [], []
        self._length = self._chunks = 0

    def __del__(self) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
