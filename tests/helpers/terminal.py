"""Reading what a process wrote to a pseudo-terminal the test gave it, and the real CLI run
with a terminal as its stderr (where progress and colour show)."""

from __future__ import annotations

import os
import select
import subprocess
import sys


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


def stderr_on_a_terminal(*argv: str, env: dict[str, str] | None = None,
                         timeout: float = 60) -> tuple[int, bytes]:
    """Run ``hardbox ARGV`` with a pty as stderr (stdin and stdout are not terminals): its exit
    status and all it wrote there. Read while it runs, so a chatty command never blocks on a
    full pty buffer."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hardbox", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    try:
        out = drain(master, idle=timeout)
    finally:
        os.close(master)
    return proc.wait(timeout=timeout), out
