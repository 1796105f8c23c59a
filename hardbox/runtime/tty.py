"""``-t``: a new pseudo-terminal made inside the container, relayed by hardbox.

PID 1 opens ``/dev/ptmx`` of the container's own devpts instance (as runc does with its
console socket), makes the slave its stdio and the controlling terminal of its own session,
and hands the master to hardbox over the setup socket. The container never holds a
descriptor of the caller's terminal, so it cannot push keystrokes into it with TIOCSTI
(CVE-2016-9016 / CVE-2017-5226 class); hardbox copies bytes between the caller's terminal
and the master, so whatever the container injects stays in its own pty. The pty's name is
one of the container's (``/dev/pts/0``), so ``tty`` and ``ttyname`` work inside.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import sys
import termios
import tty
from dataclasses import dataclass
from typing import Any

TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441


def open_container_pty() -> int:
    """In PID 1, after setsid() and the pivot: a new pty from the container's devpts. The
    slave becomes fds 0-2 and the controlling terminal; the master is returned."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, b"\0\0\0\0")  # unlockpt
    # TIOCGPTPEER opens the slave through the master, never by a path that could be raced.
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    return master


def send_master(sock: socket.socket, master: int) -> None:
    socket.send_fds(sock, [b"T"], [master])
    os.close(master)


def receive_master(sock: socket.socket) -> int | None:
    """The master PID 1 sent, or None when PID 1 failed before sending it."""
    msg, fds, _, _ = socket.recv_fds(sock, 1, 1)
    return fds[0] if msg == b"T" and fds else None


@dataclass
class Relay:
    master: int
    saved_mode: list[Any] | None = None

    @classmethod
    def attach(cls, master: int) -> Relay:
        if sys.stdin.isatty():
            # Start with the caller's window size so full-screen programs draw right.
            size = fcntl.ioctl(sys.stdin.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(master, termios.TIOCSWINSZ, size)
        return cls(master)

    def pump(self, *, interactive: bool) -> None:
        """Copy caller stdin -> master (with -i) and master -> caller stdout until the
        container closes its side of the pty."""
        stdin = sys.stdin.fileno()
        use_stdin = interactive
        if use_stdin and os.isatty(stdin):
            self.saved_mode = termios.tcgetattr(stdin)
            tty.setraw(stdin)
        out = sys.stdout.fileno()
        while True:
            readers = [self.master] + ([stdin] if use_stdin else [])
            ready, _, _ = select.select(readers, [], [])
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError as err:
                    if err.errno == errno.EIO:  # every slave descriptor is closed
                        return
                    raise
                if not data:
                    return
                os.write(out, data)
            if use_stdin and stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    os.write(self.master, data)
                else:
                    use_stdin = False  # caller closed stdin; send EOF to the pty
                    os.write(self.master, b"\x04")

    def close(self) -> None:
        if self.saved_mode is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved_mode)
            self.saved_mode = None
        if self.master >= 0:
            os.close(self.master)
            self.master = -1  # never close a number the process may have reused
