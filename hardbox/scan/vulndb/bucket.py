"""Where ``db update`` reads OSV's published files from: a bucket laid out as osv.dev's
(``<Ecosystem>/all.zip``, ``<Ecosystem>/modified_id.csv``, ``<Ecosystem>/<ID>.json``),
over HTTP(S) or in a local folder (``file://`` or a plain path: an air-gapped mirror).

``Bucket.get`` fetches one file conditionally: what the file was last time (its
``SourceState``: ETag and Last-Modified over HTTP, size and mtime for a folder) is sent
along, and an unchanged file comes back as ``None`` without being downloaded or read.
HTTP goes through ``hardbox.net`` (TLS with certs.d, proxies from the environment,
retries with Retry-After) — the one client. A file the bucket does not have is
``NotOffered`` (HTTP 404, no such file), so a caller can fall back to another file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from hardbox.errors import InputError


class NotOffered(InputError):
    """The bucket has no such file (HTTP 404, or missing from the folder)."""


@dataclass(frozen=True)
class SourceState:
    """What a file was when last fetched: its validators, and when it was last checked.
    ``newest`` (on an ecosystem's ``all.zip``) is the newest ``modified`` of the records
    loaded from that ecosystem: the mark ``modified_id.csv`` is read down to."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None
    mtime: float | None = None  # file sources
    checked: str = ""
    newest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "etag": self.etag, "last_modified": self.last_modified,
                "size": self.size, "mtime": self.mtime, "checked": self.checked,
                "newest": self.newest}


class Bucket:
    """One source base (``https://…``, ``file://…`` or a folder)."""

    def __init__(self, base: str, session: Any = None,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.base = base.rstrip("/")
        self.folder = _local(self.base)
        self._session = session
        self._on_bytes = on_bytes

    def url(self, rel: str) -> str:
        return f"{self.base}/{quote(rel)}"

    def get(self, rel: str, dest: Path, before: SourceState | None, now: str,
            max_bytes: int) -> tuple[SourceState, Path | None]:
        """Fetch ``rel`` (``Debian/all.zip``) unless it is unchanged since ``before``.
        Returns its new state and where it now lies (``dest``, or the mirror's own file,
        which is read in place), or None for the path when it did not change."""
        url = self.url(rel)
        if self.folder is not None:
            return _from_folder(self.folder / rel, url, before, now)
        session = self.session()
        from hardbox.net import HTTPStatusError

        try:
            fetched = session.fetch(url, dest, etag=before.etag if before else None,
                                    last_modified=before.last_modified if before else None,
                                    max_bytes=max_bytes, progress=self._on_bytes)
        except HTTPStatusError as err:
            if err.status == 404:
                raise NotOffered(f"GET {url}: HTTP 404") from None
            raise
        if not fetched.modified and before is not None:
            return SourceState(url, before.etag, before.last_modified, before.size, checked=now,
                               newest=before.newest), None
        if not fetched.modified:
            raise InputError(f"GET {url}: 304 Not Modified to an unconditional request")
        return SourceState(url, fetched.etag, fetched.last_modified, fetched.size, checked=now), dest

    def session(self) -> Any:
        if self._session is None:
            from hardbox.net import Session

            self._session = Session()
        return self._session


def _local(base: str) -> Path | None:
    """The folder of a ``file://`` or plain-folder source; None for HTTP(S)."""
    parts = urlsplit(base)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme:
        raise InputError(f"{base}: unsupported database source",
                         "name an https:// or file:// URL, or a folder laid out as <Ecosystem>/all.zip")
    return Path(base)


def _from_folder(path: Path, url: str, before: SourceState | None,
                 now: str) -> tuple[SourceState, Path | None]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotOffered(f"{path}: no such file") from None
    except OSError as err:
        raise InputError(f"{path}: {err.strerror}") from None
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a regular file")
    new = SourceState(url, size=st.st_size, mtime=st.st_mtime, checked=now)
    if before is not None and (before.size, before.mtime) == (new.size, new.mtime):
        return SourceState(url, size=st.st_size, mtime=st.st_mtime, checked=now, newest=before.newest), None
    return new, path  # read where it lies: a local mirror is not copied
