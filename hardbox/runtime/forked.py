"""What hardbox's forked children share, in `run` (container.py) and `exec` (exec.py).

A child forked from hardbox never returns into hardbox's code: it reports its failure as
``code\\tmessage`` on the exec-status pipe (closed unread by a successful execve, which
CLOEXEC closes) and exits with Docker's 125/126/127. It arms its parent-death signal against
the lifeline socket, and writes control files (cgroup ``tasks``/``cgroup.procs``) with a
message naming the file. Small and import-light: `exec`'s start-up path imports it.
"""

from __future__ import annotations

import _signal  # the C module: signal.py's enums are not loaded for run or exec
import _socket  # the socket type itself: `hardbox exec` does not load socket.py (exec.py)
import os
import sys

from hardbox.errors import ContainerError, HardboxError
from hardbox.runtime import syscalls


def report_and_exit(status_w: int, err: BaseException) -> None:
    """Write ``err`` as ``code\\tmessage`` on the status pipe and exit; never returns."""
    if isinstance(err, HardboxError):
        code, message = err.exit_code, err.message
    elif isinstance(err, OSError):
        code, message = 125, str(err)
    else:
        code, message = 125, f"{type(err).__name__}: {err}"
    if code not in (125, 126, 127):
        code = 125
    try:
        os.write(status_w, f"{code}\t{message}".encode())
    finally:
        os._exit(code)


def arm_parent_death(sock: _socket.socket) -> None:
    """SIGKILL when hardbox dies; the lifeline tells whether it died before this was armed."""
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, _signal.SIGKILL)
    try:
        if sock.recv(1, _socket.MSG_DONTWAIT) == b"":
            os._exit(137)  # as if the SIGKILL had come
    except BlockingIOError:
        pass  # nothing to read and not closed: hardbox is alive


def write_control_file(path: str, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as err:
        raise ContainerError(f"write {data.decode()!r} to {path}: {err.strerror}") from err


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def socketpair() -> tuple[_socket.socket, _socket.socket]:
    """The setup channel between hardbox and its forked children: the C socket type, as
    exec.py's. socket.py's enums and selectors are ~3 ms of a run's start-up (bench/RESULTS.md)."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


# SCM_RIGHTS carries C ints. Packed by hand rather than with array.array("i"): importing
# `array` imports collections.abc (to register the type), ~4 ms of run's and exec's start-up.
_INT_SIZE = 4


def send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    """socket.send_fds (SCM_RIGHTS), on the C socket type."""
    packed = b"".join(fd.to_bytes(_INT_SIZE, sys.byteorder, signed=True) for fd in fds)
    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, packed)] if fds else [])


def recv_fds(sock: _socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """socket.recv_fds: the message and the descriptors that came with it."""
    fds: list[int] = []
    msg, ancdata, _, _ = sock.recvmsg(bufsize, _socket.CMSG_LEN(maxfds * _INT_SIZE))
    for level, kind, cmsg_data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            whole = len(cmsg_data) - len(cmsg_data) % _INT_SIZE
            fds += [int.from_bytes(cmsg_data[i:i + _INT_SIZE], sys.byteorder, signed=True)
                    for i in range(0, whole, _INT_SIZE)]
    return msg, fds
