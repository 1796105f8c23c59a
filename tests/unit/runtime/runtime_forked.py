"""Helper for the runtime unit tests: run a function in a forked child, for real.

Namespaces, capabilities and credentials change the calling process for good, so tests
change a child instead and look at what it reports back.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable


def in_child(body: Callable[[], bytes | None]) -> tuple[int, bytes]:
    """Run ``body()`` in a forked child; return its exit code and what it sent back."""
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        parent.close()
        code = 0
        try:
            child.sendall(body() or b"")
        except BaseException as err:
            child.sendall(repr(err).encode())
            code = 1
        finally:
            os._exit(code)
    child.close()
    data = b"".join(iter(lambda: parent.recv(4096), b""))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), data
