"""Writing a file all at once: readers see the old content or the new, never a part.

The block writes a temporary file beside the target (same directory, so the rename stays on
one filesystem), which is flushed to disk and renamed over the target when the block ends;
if the block raises (a download cut off, a size limit hit, Ctrl-C), the temporary file is
removed and the target is left as it was. Shared by every writer that must not leave a torn
file: the registry auth file, HTTP downloads, the vulnerability database's state, and the
reports every command writes (cli/output.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path: Path, *, suffix: str = ".tmp", mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; ``mode`` (permission bits) is set
    before any byte is written, so a secret never sits in a file others can read."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            # Durable before it is visible: a crash after the rename must not leave an
            # empty file where the old one was.
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
