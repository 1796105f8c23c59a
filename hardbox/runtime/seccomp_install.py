"""Seccomp, the installing half: load a compiled BPF program into the calling thread.

What a container's PID 1 and an exec'd process call right before execve. Kept apart from
the compiler (seccomp.py: the profile model, libseccomp, the cache) so that installing a
cached or recorded filter imports nothing but ctypes: ``hardbox exec`` and the container
child load this module alone (bench/RESULTS.md, start-up budget).
"""

from __future__ import annotations

import ctypes
import os

from hardbox.errors import ContainerError

_PR_SET_SECCOMP = 22
_PR_GET_NO_NEW_PRIVS = 39
_SECCOMP_MODE_FILTER = 2
SOCK_FILTER_SIZE = 8  # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
_BPF_MAXINSNS = 0xFFFF  # the most instructions a struct sock_fprog can count (u16 len)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_filter(bpf: bytes) -> None:
    """Load ``bpf`` into the calling thread. Call after no_new_privs, right before exec.

    A raw ``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)`` through ctypes and libc, so
    the child needs no libseccomp (the kernel refuses an unprivileged filter without
    no_new_privs, seccomp(2)); raises ``ContainerError`` naming the failure (the caller
    turns that into exit 125).
    """
    if not bpf or len(bpf) % SOCK_FILTER_SIZE or len(bpf) // SOCK_FILTER_SIZE > _BPF_MAXINSNS:
        raise ContainerError(f"seccomp: compiled filter has an invalid size ({len(bpf)} bytes)")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
        raise ContainerError("seccomp: no_new_privs must be set before the filter is installed")
    program = ctypes.create_string_buffer(bpf, len(bpf))
    fprog = _SockFprog(len(bpf) // SOCK_FILTER_SIZE, ctypes.cast(program, ctypes.c_void_p))
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise ContainerError(f"seccomp: prctl(PR_SET_SECCOMP) failed: {os.strerror(err)}")
