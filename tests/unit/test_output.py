"""Report writing: atomic for files, in place for devices and pipes (never renamed over)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hardbox.cli.output import write_output


def test_regular_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    write_output(str(target), "first\n")
    inode = target.stat().st_ino
    write_output(str(target), "second\n")
    assert target.read_text() == "second\n"
    assert target.stat().st_ino != inode  # a new file renamed into place
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp left


def test_dev_null_stays_a_device() -> None:
    before = os.stat("/dev/null")
    write_output("/dev/null", "discarded\n")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


def test_a_fifo_is_written_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_output(str(fifo), "through the pipe\n")
    reader.join(timeout=10)
    assert received == ["through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_stdout_dash(capsys: pytest.CaptureFixture[str]) -> None:
    write_output("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"
