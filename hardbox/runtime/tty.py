"""``-t``: a new pseudo-terminal made inside the container, relayed by hardbox.

PID 1 opens ``/dev/ptmx`` of the container's own devpts instance (as runc does with its
console socket), makes the slave its stdio and the controlling terminal of its own session,
and hands the master to hardbox over the setup socket. The container never holds a
descriptor of the caller's terminal, so it cannot push keystrokes into it with TIOCSTI
(CVE-2016-9016 / CVE-2017-5226 class); hardbox copies bytes between the caller's terminal
and the master, so whatever the container injects stays in its own pty. The pty's name is
one of the container's (``/dev/pts/0``), so ``tty`` and ``ttyname`` work inside.

As ``docker run -t`` does, the container's ``TERM`` is the caller's (else ``xterm``), and
the pty follows the caller's window size: hardbox copies it at start and on every SIGWINCH.
"""

from __future__ import annotations

import _signal  # the C module: -t loads no signal.py, dataclasses or typing (start-up budget)
import errno
import fcntl
import os
import select
import sys
import termios
import tty

from hardbox.records import TYPE_CHECKING
from hardbox.runtime import forked

if TYPE_CHECKING:
    import _socket
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


def send_master(sock: _socket.socket, master: int) -> None:
    forked.send_fds(sock, b"T", [master])
    os.close(master)


def receive_master(sock: _socket.socket) -> int | None:
    """The master PID 1 sent, or None when PID 1 failed before sending it."""
    msg, fds = forked.recv_fds(sock, 1, 1)
    return fds[0] if msg == b"T" and fds else None


def caller_terminal() -> int | None:
    """The caller's terminal among hardbox's stdin, stdout and stderr (the first that is one)."""
    return next((fd for fd in (0, 1, 2) if os.isatty(fd)), None)


def terminal_env() -> str:
    """``TERM`` for a container with ``-t``: the caller's, else ``xterm``, as `docker run -t`
    sets it (the image's ENV and ``-e`` still override it)."""
    return f"TERM={os.environ.get('TERM') or 'xterm'}"


class Relay:
    """The caller's terminal relayed to the container's pty master."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.saved_mode: list[Any] | None = None  # the caller's terminal modes, restored by close
        self._previous_winch: Any = None

    @classmethod
    def attach(cls, master: int) -> Relay:
        relay = cls(master)
        # Start with the caller's window size so full-screen programs draw right.
        relay.copy_window_size()
        return relay

    def copy_window_size(self) -> None:
        """The caller's terminal size onto the container's pty; the kernel then sends
        SIGWINCH to the pty's foreground process group, as a terminal emulator's resize does."""
        caller = caller_terminal()
        if caller is None or self.master < 0:
            return
        try:
            size = fcntl.ioctl(caller, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass  # the caller's terminal went away (hangup): nothing left to follow

    def _forward_resizes(self) -> None:
        """SIGWINCH on hardbox (the caller's terminal was resized) -> TIOCSWINSZ on the
        container's pty. The handler runs between select() calls (PEP 475 retries them)."""
        self._previous_winch = _signal.signal(_signal.SIGWINCH, lambda _s, _f: self.copy_window_size())

    def pump(self, *, interactive: bool) -> None:
        """Copy caller stdin -> master (with -i) and master -> caller stdout until the
        container closes its side of the pty; the caller's resizes follow on the pty."""
        self._forward_resizes()
        # A resize between attach() and the handler's installation would be lost.
        self.copy_window_size()
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
        if self._previous_winch is not None:
            _signal.signal(_signal.SIGWINCH, self._previous_winch)
            self._previous_winch = None
        if self.saved_mode is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved_mode)
            self.saved_mode = None
        if self.master >= 0:
            os.close(self.master)
            self.master = -1  # never close a number the process may have reused
