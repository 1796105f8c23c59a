"""A small real disk for the disk-full tests: a tmpfs the test mounts, and a filler that takes
its free space. tmpfs has no reserved blocks, so "full" means full for root too."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.cli import need_root


@contextmanager
def small_tmpfs(mnt: Path, size: str = "30m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``mnt`` (created) for the block; unmounted after."""
    need_root()
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fills ``disk`` until only ``leave`` bytes are free (0: every block) and returns the
    filler file. Unbuffered writes: what is written stays written."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        st = os.statvfs(disk)
        remaining = st.f_bavail * st.f_frsize - leave
        for chunk in (1 << 20, 4096, 512):
            try:
                while remaining > 0 or not leave:
                    remaining -= os.write(fd, b"\0" * (min(chunk, remaining) if leave else chunk))
            except OSError:
                pass
    finally:
        os.close(fd)
    if not leave:
        assert os.statvfs(disk).f_bavail == 0
    return filler
