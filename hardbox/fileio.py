"""Small file operations on descriptors and string paths, with nothing but ``os``: writing a
whole buffer to a descriptor, reading a text file whole, unlinking what may already be gone.

The modules ``hardbox run`` and ``hardbox exec`` load hold their paths as strings and read
and write them with ``os`` (pathlib, contextlib and shutil are ms of start-up measured against
runc: bench/RESULTS.md, issue 14); these are the few steps they all repeat, said once.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)
if TYPE_CHECKING:
    StrPath = str | os.PathLike[str]


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (write(2) may take less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_text(path: StrPath, errors: str = "strict") -> str:
    """The UTF-8 text of the file at ``path``, whole; ``errors`` as for ``bytes.decode``."""
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8", errors)


def unlink_missing_ok(path: StrPath) -> bool:
    """Unlink ``path``; whether it was there to unlink."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
