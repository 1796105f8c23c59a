"""hardbox logs: --tail offsets as tail(1) counts lines, and -f's end: the writers' lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hardbox.runtime.logs import copy_log, tail_offset, writers_gone


def _tail(path: Path, lines: int | None) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return path.read_bytes()[tail_offset(fd, lines):]
    finally:
        os.close(fd)


@pytest.mark.parametrize("content", [b"", b"a\n", b"a\nb\nc\n", b"a\nb\nc", b"\n\n\n", b"one line no newline",
                                     b"x" * 200_000 + b"\n" + b"y" * 70_000 + b"\nlast\n"])
@pytest.mark.parametrize("lines", [0, 1, 2, 3, 10])
def test_tail_matches_coreutils_tail(tmp_path: Path, content: bytes, lines: int) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    expected = subprocess.run(["tail", "-n", str(lines), str(path)], capture_output=True, check=True).stdout
    assert _tail(path, lines) == expected


def test_tail_all_is_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\nb\n")
    assert _tail(path, None) == b"a\nb\n"


def _locker(path: Path) -> subprocess.Popen[bytes]:
    """A process holding an exclusive flock on ``path`` as the detached monitor does, until
    its stdin closes; it appends a line first and after a pause."""
    code = ("import fcntl, os, sys, time\n"
            f"fd = os.open({str(path)!r}, os.O_WRONLY | os.O_APPEND)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(0.3); os.write(fd, b'later\\n')\n"
            "sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
    return proc


def test_follow_copies_appended_output_until_the_writer_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"first\n")
    writer = _locker(path)
    fd = os.open(path, os.O_RDONLY)
    assert not writers_gone(fd)
    got: list[bytes] = []
    follower = threading.Thread(target=copy_log, args=(fd, got.append), kwargs={"follow": True, "poll": 0.02})
    follower.start()
    time.sleep(0.8)
    assert follower.is_alive(), "follow ended while the writer still held the lock"
    assert b"".join(got) == b"first\nlater\n"
    with open(path, "ab") as fh:
        fh.write(b"end\n")
    assert writer.stdin is not None
    writer.stdin.close()
    writer.wait(timeout=10)
    follower.join(timeout=5)
    assert not follower.is_alive()
    assert b"".join(got) == b"first\nlater\nend\n"
    assert writers_gone(fd)
    os.close(fd)


def test_without_follow_it_stops_at_the_end_even_while_locked(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"first\n")
    writer = _locker(path)
    fd = os.open(path, os.O_RDONLY)
    got: list[bytes] = []
    copy_log(fd, got.append, follow=False)
    assert got == [b"first\n"]
    assert writer.stdin is not None
    writer.stdin.close()
    writer.wait(timeout=10)
    os.close(fd)
