"""Where hardbox keeps its state: the one answer every part (store, containers, caches) uses.

Kept free of imports beyond ``os``: ``hardbox run`` asks it before anything else is loaded
(the profile cache lives under it), and ``hardbox exec`` asks ``root_dir`` on a start-up
path that loads no pathlib (bench/RESULTS.md).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)
if TYPE_CHECKING:
    from pathlib import Path


def root_dir() -> str:
    """``$HARDBOX_ROOT``, else ``/var/lib/hardbox`` as root, else ``~/.local/share/hardbox``."""
    if env := os.environ.get("HARDBOX_ROOT"):
        return env
    if os.geteuid() == 0:
        return "/var/lib/hardbox"
    return os.path.join(os.path.expanduser("~"), ".local/share/hardbox")


def default_root() -> Path:
    """``root_dir()`` as a ``Path``."""
    from pathlib import Path

    return Path(root_dir())
