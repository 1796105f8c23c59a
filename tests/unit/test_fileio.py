"""hardbox.fileio: a whole buffer through a pipe that takes less per write, text read with the
decoder's error rule, and an unlink that says whether there was something to unlink."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hardbox import fileio


def test_write_all_writes_more_than_a_pipe_takes_at_once() -> None:
    data = os.urandom(1 << 20)  # a pipe holds 64 KiB: os.write returns short counts
    r, w = os.pipe()
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 1 << 16):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    fileio.write_all(w, data)
    os.close(w)
    reader.join()
    os.close(r)
    assert bytes(got) == data


def test_read_text_decodes_utf8_with_the_given_error_rule(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes("é\n".encode() + b"\xff")
    with pytest.raises(UnicodeDecodeError):
        fileio.read_text(path)
    assert fileio.read_text(path, errors="replace") == "é\n\ufffd"
    assert os.fsencode(fileio.read_text(str(path), errors="surrogateescape")) == path.read_bytes()


def test_unlink_missing_ok(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    assert fileio.unlink_missing_ok(str(path)) is True
    assert fileio.unlink_missing_ok(str(path)) is False
    with pytest.raises(IsADirectoryError):
        fileio.unlink_missing_ok(str(tmp_path))
