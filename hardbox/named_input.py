"""The one check every input a user names goes through before it is opened: a regular file
or a directory, nothing else (DESIGN.md, "Shared conventions").

A FIFO blocks in ``open()`` until a writer comes, and ``/dev/zero`` or ``/dev/urandom`` never
end, so reading either hangs a command forever (or until a size limit, after reading it).
``os.stat`` answers without opening. ``-`` (stdin/stdout) is not a path and is handled by the
commands that document it, before they get here. A missing path is left to the caller, whose
"no such file" message knows what the path was meant to be.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hardbox.errors import InputError

_HINT = "name a regular file or a directory (`-` reads stdin where a command says so)"

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def require_file_or_dir(path: str | os.PathLike[str], what: str = "") -> Path:
    """``path`` as a ``Path`` when it is a regular file, a directory or absent; otherwise an
    ``InputError`` naming what it is. Symlinks are followed: a link to a file is a file.
    ``what`` ("VEX", "policy", ...) starts the message, as the caller's other errors do."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return p
    except OSError as err:
        raise InputError(f"{_label(what)}{p}: cannot stat: {err.strerror or err}") from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return p
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise InputError(f"{_label(what)}{p}: {kind}, not a regular file or directory", hint=_HINT)


def _label(what: str) -> str:
    return f"{what} " if what else ""
