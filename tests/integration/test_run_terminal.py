"""`hardbox run -t` at a real terminal: TERM as `docker run -t` sets it, and the pty follows
the caller's window size (SIGWINCH -> TIOCSWINSZ), checked with `stty size` inside."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-terminal") / "store", busybox_layout.ref)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """A pty that is hardbox's controlling terminal, as a terminal emulator's would be."""

    def __init__(self, store: RunStore, args: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        self.master, slave = os.openpty()
        _set_size(slave, rows, cols)

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([sys.executable, "-m", "hardbox", "run", "--rm", *args],
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     preexec_fn=controlling_tty)
        os.close(slave)
        self.seen = b""

    def read_until(self, wanted: bytes, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise AssertionError(f"{wanted!r} not seen; got {self.seen!r}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: hardbox is gone
                raise AssertionError(f"{wanted!r} not seen before exit; got {self.seen!r}") from None
            self.seen += chunk
        return self.seen

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


def test_the_pty_follows_the_callers_window_size(store: RunStore) -> None:
    env = store.env(TERM="xterm-256color")
    term = Terminal(store, ["-it", "bbtest", "sh", "-c", "stty size; echo TERM=$TERM; read x; stty size"],
                    env, rows=24, cols=80)
    try:
        term.read_until(b"24 80")
        term.read_until(b"TERM=xterm-256color")
        # A resize of the caller's terminal: the kernel signals its foreground process group
        # (hardbox), which must carry the new size over to the container's own pty.
        _set_size(term.master, 40, 132)
        time.sleep(0.5)
        os.write(term.master, b"\n")
        term.read_until(b"40 132")
    finally:
        code = term.close()
    assert code == 0, term.seen


def test_term_defaults_to_xterm_and_the_image_or_e_override_it(store: RunStore) -> None:
    env = {k: v for k, v in store.env().items() if k != "TERM"}
    term = Terminal(store, ["-t", "bbtest", "sh", "-c", "echo TERM=$TERM."], env, rows=24, cols=80)
    try:
        term.read_until(b"TERM=xterm.")
    finally:
        assert term.close() == 0
    term = Terminal(store, ["-t", "-e", "TERM=vt100", "bbtest", "sh", "-c", "echo TERM=$TERM."],
                    store.env(TERM="xterm-256color"), rows=24, cols=80)
    try:
        term.read_until(b"TERM=vt100.")
    finally:
        assert term.close() == 0


def test_without_t_there_is_no_term(store: RunStore) -> None:
    proc = store.hardbox("run", "--rm", "bbtest", "sh", "-c", "echo TERM=${TERM-unset}", env=store.env(TERM="xterm"))
    assert proc.stdout == "TERM=unset\n", proc.stderr
