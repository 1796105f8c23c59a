"""Where hardbox keeps its state: the one answer every part (store, containers, caches) uses.

Kept free of imports beyond ``os`` and ``pathlib``: ``hardbox run`` asks it before anything
else is loaded (the profile cache lives under it).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_root() -> Path:
    """``$HARDBOX_ROOT``, else ``/var/lib/hardbox`` as root, else ``~/.local/share/hardbox``."""
    if env := os.environ.get("HARDBOX_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hardbox")
    return Path.home() / ".local/share/hardbox"
