"""The container's stdio without ``-t``: pipes hardbox copies, never the caller's own files.

A descriptor handed to the container as it is shows its host path in ``/proc/self/fd/N``,
can be read back and truncated when it is a file (``>> host.log``: issue 18), and, when it
is the caller's terminal, lets the container change that terminal's modes (echo stayed off
after exit). Docker gives the container pipes and copies; so does hardbox, for every stdio
descriptor that is not already harmless:

* a pipe or a socket is passed as it is — it names no host path and has no offset or
  terminal modes — so the usual case (hardbox in a pipeline, under CI, detached with a
  log that the monitor writes) starts with no extra descriptor and no thread;
* ``/dev/null`` is passed as it is;
* anything else (a regular file, a terminal, another device) becomes a pipe: stdout and
  stderr are copied to hardbox's own descriptor by a thread each, stdin (only with ``-i``;
  without it the container reads /dev/null) from hardbox's.

``-t`` does not come here: the container gets a pty of its own (tty.py).
"""

from __future__ import annotations

import os
import stat

from hardbox.fileio import write_all

_NULL_RDEV = os.makedev(1, 3)
_CHUNK = 1 << 16


def _harmless(fd: int) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return True  # closed: nothing of the caller's to leak (the container sees none)
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return True
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == _NULL_RDEV


def relayed_fds(interactive: bool) -> tuple[int, ...]:
    """Which of 0, 1, 2 need a pipe (stdin only with ``-i``); cheap: three fstat calls."""
    wanted = (0, 1, 2) if interactive else (1, 2)
    return tuple(fd for fd in wanted if not _harmless(fd))


class StdioRelay:
    """Pipes standing in for some of the container's stdio, and the threads copying them.
    (A plain class: `hardbox exec` imports no dataclasses, bench/RESULTS.md.)"""

    def __init__(self, fds: tuple[int, ...]) -> None:
        self.fds = fds
        # container side (dup2'd onto 0/1/2 in the child) and hardbox side, per stdio number
        self.inner: dict[int, int] = {}
        self.outer: dict[int, int] = {}
        self._threads: list[object] = []

    @classmethod
    def create(cls, fds: tuple[int, ...]) -> StdioRelay:
        relay = cls(fds)
        for fd in fds:
            r, w = os.pipe2(os.O_CLOEXEC)
            relay.inner[fd], relay.outer[fd] = (r, w) if fd == 0 else (w, r)
        return relay

    def in_child(self) -> None:
        """In the forked child, first: the pipes become its stdio (dup2 clears CLOEXEC)."""
        for fd, inner in self.inner.items():
            os.dup2(inner, fd)
        for end in (*self.inner.values(), *self.outer.values()):
            os.close(end)

    def start(self) -> None:
        """In hardbox, right after the fork: close the container's ends, start copying."""
        import threading  # only a run with a relay needs it: kept off start-up

        for inner in self.inner.values():
            os.close(inner)
        self.inner.clear()
        for fd, outer in self.outer.items():
            src, dst = (fd, outer) if fd == 0 else (outer, fd)
            # stdin's copier may sit in read() on the caller's terminal after the container
            # is gone; as a daemon thread it never holds hardbox's exit.
            thread = threading.Thread(target=_copy, args=(src, dst, fd == 0), daemon=True,
                                      name=f"hardbox-stdio-{fd}")
            thread.start()
            self._threads.append(thread)
        self.outer.clear()  # each copier owns and closes its end now

    def finish(self, timeout: float = 5.0) -> None:
        """After the container exited: let stdout and stderr drain to EOF."""
        import threading  # only a run with a relay needs it: kept off start-up

        for thread in self._threads:
            assert isinstance(thread, threading.Thread)
            if thread.name != "hardbox-stdio-0":
                thread.join(timeout)

    def close(self) -> None:
        """The ends no copier owns (a start that failed before ``start``)."""
        for end in (*self.inner.values(), *self.outer.values()):
            os.close(end)
        self.inner.clear()
        self.outer.clear()


def _copy(src: int, dst: int, close_dst: bool) -> None:
    """Copy until EOF (or an error on either side); stdin closes the container's end at
    EOF so the container sees it, outputs close their pipe end when drained."""
    try:
        while chunk := os.read(src, _CHUNK):
            write_all(dst, chunk)
    except OSError:
        pass  # the reader went away (EPIPE) or the caller's descriptor failed: stop copying
    finally:
        os.close(dst if close_dst else src)
