"""Parallel blob downloads that the import reads while they stream.

``Downloader.start`` hands a blob to a bounded pool of worker threads (3 by default, as
containers/image does); each writes into a spool file in the import's staging directory,
hashing as it goes, and resumes with a ``Range`` request when the connection breaks
mid-body. Given a ``partials`` directory, the files live there as ``<hex>.part`` and outlive
the process: a pull interrupted (Ctrl-C, a dead network, a deadline) resumes those blobs
with ``Range`` the next time, after re-hashing what it has. A part whose content proves
wrong (digest, size) is deleted, never resumed; ``pull`` deletes the parts it committed. ``Downloader.open`` returns a reader that follows that file as it grows, so the
store's transaction unpacks layer 1 while layers 2 and 3 are still arriving. A blob is
complete only when its size and sha256 are what the manifest says; otherwise the reader
raises (``BlobError``) at its end and the transaction commits nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from hardbox.image.digest import CHUNK, hex_of, sha256_file
from hardbox.image.registry.client import RegistryClient
from hardbox.image.registry.errors import BlobError, RegistryError
from hardbox.net import NetError, NetTimeout

# (blob digest, bytes received, blob size)
LayerProgress = Callable[[str, int, int], None]
MAX_RESUMES = 3


class _Job:
    def __init__(self, digest: str, size: int, path: Path) -> None:
        self.digest = digest
        self.size = size
        self.path = path
        self.received = 0
        self.finished = False
        self.error: BaseException | None = None
        self.damaged = False
        self.cond = threading.Condition()


class Downloader:
    """Blobs of one repository, fetched in parallel into ``spool``; use as a context manager
    (leaving it stops every worker)."""

    def __init__(self, client: RegistryClient, repo: str, spool: Path, *, workers: int = 3,
                 progress: LayerProgress | None = None, partials: Path | None = None) -> None:
        self.client = client
        self.repo = repo
        self.spool = spool
        self.partials = partials
        self.progress = progress
        self._abort = threading.Event()
        self._jobs: dict[str, _Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hardbox-pull")

    def start(self, digest: str, size: int) -> None:
        if digest in self._jobs:
            return
        if self.partials is not None:
            job = _Job(digest, size, self.partials / f"{hex_of(digest)}.part")
        else:
            job = _Job(digest, size, self.spool / hex_of(digest))
        job.path.touch(mode=0o600)
        kept = job.path.stat().st_size
        if kept > size or (kept == size > 0 and sha256_file(job.path) != digest):
            os.truncate(job.path, 0)  # not this blob, or not a prefix of it
            kept = 0
        self._jobs[digest] = job
        job.received = kept
        if kept == size > 0:
            job.finished = True  # downloaded whole by an earlier pull that failed elsewhere
            return
        self._pool.submit(self._run, job)

    def open(self, digest: str) -> BinaryIO:
        """A reader of the blob's bytes as they arrive (``start`` must have been called)."""
        return _Follow(self._jobs[digest])  # type: ignore[return-value]

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._abort.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for job in self._jobs.values():
            if job.damaged:
                job.path.unlink(missing_ok=True)

    # -- worker -------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        try:
            self._fetch(job)
        except BaseException as err:  # handed to the reader, which raises it in the importer
            job.error = err if isinstance(err, RegistryError | NetError | BlobError) else \
                BlobError(f"{self._source(job)}: download failed ({type(err).__name__}: {err})")
        finally:
            with job.cond:
                job.finished = True
                job.cond.notify_all()

    def _source(self, job: _Job) -> str:
        return f"{self.client.host}/{self.repo}@{job.digest}"

    def _damaged(self, job: _Job, message: str) -> BlobError:
        """The content is wrong: its part must not be resumed another time."""
        job.damaged = True  # deleted when the downloader closes; the reader may still open it
        return BlobError(f"{self._source(job)}: {message}")

    def _fetch(self, job: _Job) -> None:
        digest = hashlib.sha256()
        resumes = 0
        with open(job.path, "r+b") as out:
            while chunk := out.read(min(CHUNK, job.size)):  # a part kept from an earlier run
                digest.update(chunk)
            out.seek(job.received)
            while True:
                try:
                    self._receive(job, out, digest)
                    break
                except NetError as err:
                    # A broken body resumes where it stopped. A slow one does not: it has
                    # had its deadline, and resuming would multiply it.
                    if self._abort.is_set() or resumes >= MAX_RESUMES or \
                            isinstance(err, NetTimeout):
                        raise BlobError(f"{self._source(job)}: download failed after "
                                        f"{job.received} of {job.size} bytes ({err.message})",
                                        "the connection broke or stalled; pull again to resume "
                                        "where it stopped") from None
                    resumes += 1
        if self._abort.is_set():
            return
        if job.received != job.size:
            raise self._damaged(job, f"truncated: {job.received} of {job.size} bytes")
        actual = "sha256:" + digest.hexdigest()
        if actual != job.digest:
            raise self._damaged(job, f"digest mismatch: the content is {actual}")

    def _receive(self, job: _Job, out: BinaryIO, digest: hashlib._Hash) -> None:
        offset = job.received
        with self.client.blob(self.repo, job.digest, offset, job.size) as resp:
            skip = 0
            if offset and resp.status == 200:
                skip = offset  # the server ignored Range: discard what we already have
            elif offset and not (resp.header("Content-Range") or "").startswith(f"bytes {offset}-"):
                raise self._damaged(job, f"resumed download does not start at byte {offset}")
            for data in resp.chunks():
                if self._abort.is_set():
                    return
                if skip:
                    cut = min(skip, len(data))
                    data, skip = data[cut:], skip - cut
                    if not data:
                        continue
                if job.received + len(data) > job.size:
                    raise self._damaged(job, f"larger than the {job.size} bytes the manifest says")
                out.write(data)
                out.flush()
                digest.update(data)
                with job.cond:
                    job.received += len(data)
                    job.cond.notify_all()
                if self.progress is not None:
                    self.progress(job.digest, job.received, job.size)


class _Follow:
    """Reads a spool file as its worker writes it; raises the worker's error at the end."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._fh = open(job.path, "rb")  # noqa: SIM115 - closed by close()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while data := self.read(CHUNK):
                parts.append(data)
            return b"".join(parts)
        job = self._job
        while True:
            with job.cond:
                while self._pos >= job.received and not job.finished:
                    job.cond.wait(1.0)
                available = job.received - self._pos
                finished, error = job.finished, job.error
            if available > 0:
                data = self._fh.read(min(n, available))
                self._pos += len(data)
                return data
            if error is not None:
                raise error
            if finished:
                return b""

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _Follow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
