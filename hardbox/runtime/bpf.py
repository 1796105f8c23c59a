"""bpf(2): the few commands a cgroup v2 device program needs (cgroups/devices.py) — load a
program, attach it to a cgroup, list and open what is attached.

Apart from ``syscalls`` because only a run on a cgroup v2 host (and the tests) use it: the
union bpf_attr structures stay off `hardbox exec`'s and a v1 host's start-up (issue 14,
bench/RESULTS.md). Failures raise ``syscalls.KernelError``, as every other syscall does.
"""

from __future__ import annotations

import ctypes
import errno

from hardbox.runtime.syscalls import KernelError
from hardbox.runtime.syscalls import _check as check
from hardbox.runtime.syscalls import _syscall as syscall

# bpf(2), include/uapi/linux/bpf.h: load a program, attach it to a cgroup, list what is attached.
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type
BPF_F_ALLOW_MULTI = 2
_BPF_LOG_SIZE = 1 << 16


class _BpfProgLoad(ctypes.Structure):
    # The leading fields of union bpf_attr for BPF_PROG_LOAD; the kernel reads the size we
    # pass and treats the rest as zero (kernel/bpf/syscall.c, bpf_check_uarg_tail_zero).
    _fields_ = (
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    )


class _BpfProgAttach(ctypes.Structure):
    _fields_ = (
        ("target_fd", ctypes.c_uint32),
        ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("replace_bpf_fd", ctypes.c_uint32),
    )


class _BpfProgQuery(ctypes.Structure):
    _fields_ = (
        ("target_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("query_flags", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("prog_ids", ctypes.c_uint64),
        ("prog_cnt", ctypes.c_uint32),
    )


class _BpfGetFdById(ctypes.Structure):
    _fields_ = (("prog_id", ctypes.c_uint32), ("next_id", ctypes.c_uint32), ("open_flags", ctypes.c_uint32))


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    return syscall("bpf", ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))


def bpf_prog_load(prog_type: int, insns: bytes, *, name: str, license_name: str,
                  expected_attach_type: int = 0) -> int:
    """Load a program (``insns``: struct bpf_insn array); its fd, close-on-exec.

    A refusal is loaded again with the verifier's log, which goes into the error: that log
    is the only account of why the kernel said no.
    """
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license_name.encode())
    attr = _BpfProgLoad(
        prog_type=prog_type, insn_cnt=len(insns) // 8, insns=ctypes.addressof(code),
        license=ctypes.addressof(lic), prog_name=name.encode()[:15],
        expected_attach_type=expected_attach_type,
    )
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.EACCES):  # a verifier refusal: ask for its reasons
        log = ctypes.create_string_buffer(_BPF_LOG_SIZE)
        attr.log_level, attr.log_size, attr.log_buf = 1, _BPF_LOG_SIZE, ctypes.addressof(log)
        fd = _bpf(BPF_PROG_LOAD, attr)
        if fd >= 0:  # loaded with a log after all: keep it
            return fd
        reason = " | ".join(log.value.decode(errors="replace").strip().splitlines()[-3:])
        if reason:
            raise KernelError(ctypes.get_errno(), f"bpf BPF_PROG_LOAD {name} (verifier: {reason})")
    raise KernelError(err, f"bpf BPF_PROG_LOAD {name}")


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int, what: str) -> None:
    """Attach a loaded program to ``target_fd`` (a cgroup directory); the cgroup then holds
    its own reference, so the caller may close ``prog_fd``."""
    attr = _BpfProgAttach(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type, attach_flags=flags)
    check(_bpf(BPF_PROG_ATTACH, attr), "bpf BPF_PROG_ATTACH to", what)


def bpf_prog_query(target_fd: int, attach_type: int, what: str, room: int = 64) -> list[int]:
    """The ids of the programs attached to ``target_fd`` itself for ``attach_type``."""
    ids = (ctypes.c_uint32 * room)()
    attr = _BpfProgQuery(target_fd=target_fd, attach_type=attach_type, prog_ids=ctypes.addressof(ids), prog_cnt=room)
    check(_bpf(BPF_PROG_QUERY, attr), "bpf BPF_PROG_QUERY on", what)
    return list(ids[: attr.prog_cnt])


def bpf_prog_get_fd_by_id(prog_id: int) -> int:
    """An fd for a loaded program by id (ENOENT once the kernel has freed it)."""
    return check(_bpf(BPF_PROG_GET_FD_BY_ID, _BpfGetFdById(prog_id=prog_id)), f"bpf BPF_PROG_GET_FD_BY_ID {prog_id}")
