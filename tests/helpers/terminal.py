"""Reading what a process wrote to a pseudo-terminal the test gave it."""

from __future__ import annotations

import os
import select


def drain(master: int, idle: float = 0.2) -> bytes:
    """Everything readable on a pty's master side until nothing arrives for ``idle`` seconds,
    or the slave side is closed by everyone (the read then fails with EIO or returns b"")."""
    out = b""
    while select.select([master], [], [], idle)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out
