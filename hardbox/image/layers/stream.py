"""The uncompressed layer stream, produced on a helper thread and read forward only.

Inflating a gzip layer is the largest single cost of an import after file creation, and
zlib and hashlib release the GIL while they work; so one thread decompresses and hashes
(the ``diff_id`` is the digest of exactly these bytes) while the calling thread parses
headers and writes files. The queue between them is short, which bounds memory.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from typing import Any

from hardbox.image.layers.tarsafe import Refused

BUFFER = 1 << 20  # decompressed bytes handed over at a time
_PREFETCH_CHUNKS = 8


class Prefetch:
    """The decompressed stream, decompressed and hashed on a thread of its own.

    zlib and hashlib release the GIL, so inflating the next megabyte overlaps with parsing
    headers and writing files. Errors on the thread (damage, the size limit) are raised by
    the next read on the calling thread. To ``tarfile`` this is a file that can only seek
    forward (skipping is reading): enough for its non-stream mode when members are visited
    in order, and it spares the copy of the stream buffer ``r|`` mode makes on every read.
    """

    def __init__(self, inner: io.RawIOBase, max_size: int) -> None:
        self._inner = inner
        self._max = max_size
        self.sha256 = hashlib.sha256()
        self.size = 0  # written by the thread; read only after the end was handed over
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_PREFETCH_CHUNKS)
        self._stop = threading.Event()
        self._chunk = memoryview(b"")
        self._position = 0
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="layer-decompress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        item: bytes | BaseException | None
        try:
            while not self._stop.is_set():
                data = self._inner.read(BUFFER)
                if not data:
                    item = None
                    break
                self.sha256.update(data)
                self.size += len(data)
                if self.size > self._max:
                    raise Refused(f"uncompressed layer is larger than the limit of {self._max} bytes")
                self._hand_over(data)
            else:
                return
        except BaseException as exc:  # handed to the reading thread, which raises it
            item = exc
        self._hand_over(item)

    def _hand_over(self, item: bytes | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _fill(self) -> bool:
        """Make ``_chunk`` non-empty; False at the end of the stream."""
        while not self._chunk:
            if self._ended:
                return False
            item = self._queue.get()
            if item is None or isinstance(item, BaseException):
                self._ended = True
                if item is None:
                    return False
                raise item
            self._chunk = memoryview(item)
        return True

    def read(self, size: int = -1) -> bytes:
        wanted = size if size >= 0 else self._max
        parts: list[memoryview] = []
        while wanted and self._fill():
            part = self._chunk[:wanted]
            self._chunk = self._chunk[len(part) :]
            parts.append(part)
            wanted -= len(part)
        data = b"".join(parts)
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        if not self._fill():
            return 0
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        self._position += n
        return n

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            position += self._position
        elif whence != io.SEEK_SET or position < self._position:
            raise io.UnsupportedOperation("a layer is read once, forward only")
        while self._position < position and self._fill():
            step = min(position - self._position, len(self._chunk))
            self._chunk = self._chunk[step:]
            self._position += step
        return self._position

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
