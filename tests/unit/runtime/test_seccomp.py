"""Seccomp for real: compile the shipped policies with libseccomp, install them in a forked
child with the ctypes loader, and watch what the kernel answers."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
from pathlib import Path

import pyseccomp
import pytest

from hardbox.errors import ContainerError, InputError
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.seccomp_model import SeccompPolicy
from hardbox.runtime.seccomp import compile_policy, install_filter

CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17


def nr(name: str) -> int:
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    assert number >= 0, f"{name} is not a syscall on this architecture"
    return number


def run_filtered(bpf: bytes, calls: list[tuple[str, tuple[int, ...]]]) -> list[tuple[int, int]]:
    """Fork; the child sets no_new_privs, installs ``bpf`` and makes raw ``calls``; returns
    (result, errno) per call as the child saw them."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no Python-level cleanup, report through the pipe, _exit
        status = 0
        try:
            os.close(read_fd)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
            install_filter(bpf)
            out = []
            for name, args in calls:
                ctypes.set_errno(0)
                res = libc.syscall(ctypes.c_long(nr(name)), *(ctypes.c_long(a) for a in args))
                out.append((res, ctypes.get_errno() if res == -1 else 0))
            os.write(write_fd, json.dumps(out).encode())
        except BaseException as err:  # reported to the parent, which fails the test
            os.write(write_fd, json.dumps({"error": repr(err)}).encode())
            status = 1
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    result = json.loads(data)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, result
    return [tuple(r) for r in result]


@pytest.fixture(scope="module")
def strict_bpf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    policy = load_profile("strict").seccomp
    assert policy is not None
    return compile_policy(policy, (), cache_dir=tmp_path_factory.mktemp("c")).bpf


@pytest.fixture(scope="module")
def default_bpf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    profile = load_profile("default")
    assert profile.seccomp is not None
    return compile_policy(profile.seccomp, profile.capabilities, cache_dir=tmp_path_factory.mktemp("c")).bpf


def test_strict_allows_ordinary_calls_and_refuses_named_dangerous_ones(strict_bpf: bytes) -> None:
    results = run_filtered(
        strict_bpf,
        [
            ("getpid", ()),
            ("keyctl", (0, 0, 0, 0, 0)),
            ("add_key", (0, 0, 0, 0, 0)),
            ("bpf", (0, 0, 0)),
            ("perf_event_open", (0, 0, 0, 0, 0)),
            ("userfaultfd", (0,)),
            ("io_uring_setup", (1, 0)),
            ("ptrace", (0, 0, 0, 0)),
            ("init_module", (0, 0, 0)),
            ("kexec_load", (0, 0, 0, 0)),
            ("mount", (0, 0, 0, 0, 0)),
            ("pivot_root", (0, 0)),
        ],
    )
    assert results[0][0] > 0 and results[0][1] == 0  # getpid: the child's pid
    named = ["keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
             "ptrace", "init_module", "kexec_load", "mount", "pivot_root"]
    for name, answer in zip(named, results[1:], strict=True):
        assert answer == (-1, errno.EPERM), name


def test_strict_unnamed_syscall_answers_enosys_and_clone3_falls_back(strict_bpf: bytes) -> None:
    # adjtimex(2) in read mode works for anyone, but strict does not name it.
    buf = ctypes.create_string_buffer(256)
    results = run_filtered(
        strict_bpf, [("adjtimex", (ctypes.addressof(buf),)), ("clone3", (0, 0))]
    )
    assert results == [(-1, errno.ENOSYS), (-1, errno.ENOSYS)]


def test_strict_refuses_nested_user_namespaces_by_argument(strict_bpf: bytes) -> None:
    # The filter inspects unshare's flags: CLONE_NEWUSER answers EPERM from the filter, while
    # CLONE_NEWUTS reaches the kernel (we are root here, so the kernel allows it).
    results = run_filtered(
        strict_bpf, [("unshare", (CLONE_NEWUSER,)), ("unshare", (CLONE_NEWUTS,))]
    )
    assert results == [(-1, errno.EPERM), (0, 0)]


def test_strict_refuses_clone_with_namespace_flags(strict_bpf: bytes) -> None:
    # clone(CLONE_NEWUSER|SIGCHLD, NULL stack) would fork; the filter stops it first.
    results = run_filtered(strict_bpf, [("clone", (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0))])
    assert results == [(-1, errno.EPERM)]


def test_personality_only_docker_values(strict_bpf: bytes) -> None:
    read_implies_exec = 0x0400000
    results = run_filtered(
        strict_bpf, [("personality", (0xFFFFFFFF,)), ("personality", (read_implies_exec,))]
    )
    assert results[0][1] == 0  # the query form is allowed
    assert results[1] == (-1, errno.ENOSYS)


def test_default_behaves_as_docker_without_sys_admin(default_bpf: bytes) -> None:
    results = run_filtered(
        default_bpf,
        [
            ("getpid", ()),
            ("keyctl", (0, 0, 0, 0, 0)),
            ("unshare", (CLONE_NEWUTS,)),
            ("mount", (0, 0, 0, 0, 0)),
            ("clone3", (0, 0)),
            ("io_uring_setup", (1, 0)),
            ("cachestat", (0, 0, 0, 0)),
        ],
    )
    assert results[0][0] > 0
    assert results[1:5] == [(-1, errno.EPERM), (-1, errno.EPERM), (-1, errno.EPERM), (-1, errno.ENOSYS)]
    assert results[5] == (-1, errno.EPERM)
    assert results[6] == (-1, errno.ENOSYS)  # a syscall Docker's list does not know


def test_capabilities_select_rules_as_docker_does() -> None:
    profile = load_profile("default")
    assert profile.seccomp is not None
    without = {r.names for r in profile.seccomp.resolve(()) if r.action == "SCMP_ACT_ALLOW"}
    with_admin = {r.names for r in profile.seccomp.resolve(("CAP_SYS_ADMIN",)) if r.action == "SCMP_ACT_ALLOW"}
    assert not any("mount" in names for names in without)
    assert any("mount" in names for names in with_admin)


def test_compiled_filter_is_cached_by_content(tmp_path: Path) -> None:
    policy = load_profile("strict").seccomp
    assert policy is not None
    first = compile_policy(policy, (), cache_dir=tmp_path)
    second = compile_policy(policy, (), cache_dir=tmp_path)
    assert not first.cached and second.cached and first.bpf == second.bpf
    assert (tmp_path / f"{first.digest}.bpf").read_bytes() == first.bpf
    other = compile_policy(load_profile("default").seccomp, (), cache_dir=tmp_path)  # type: ignore[arg-type]
    assert other.digest != first.digest


def test_unknown_syscall_names_are_skipped_and_reported(tmp_path: Path) -> None:
    policy = SeccompPolicy.from_json(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [{"names": ["getpid", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"}],
        },
        "inline",
    )
    compiled = compile_policy(policy, (), cache_dir=tmp_path)
    assert compiled.skipped == ("no_such_syscall_xyz",)
    assert len(compiled.bpf) % 8 == 0 and struct.unpack_from("<H", compiled.bpf)[0] != 0


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}, "names"),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                              "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
            "args.index",
        ),
    ],
)
def test_bad_seccomp_json_is_one_clear_error(raw: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        SeccompPolicy.from_json(raw, "bad.json")


def test_install_refuses_without_no_new_privs_or_bad_program() -> None:
    with pytest.raises(ContainerError, match="invalid size"):
        install_filter(b"\x00" * 7)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        msg = b"installed"
        try:
            install_filter(b"\x06\x00\x00\x00\x00\x00\xff\x7f")  # ret ALLOW
        except ContainerError as err:
            msg = str(err).encode()
        os.write(write_fd, msg)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        msg = fh.read().decode()
    os.waitpid(pid, 0)
    assert "no_new_privs" in msg


def test_cache_lives_under_the_store_and_survives_damage(hardbox_root: Path) -> None:
    from hardbox.runtime.seccomp import compile_filter

    policy = load_profile("strict").seccomp
    assert policy is not None
    bpf = compile_filter(policy)
    cached = list((hardbox_root / "cache" / "seccomp").glob("*.bpf"))
    assert len(cached) == 1 and cached[0].read_bytes() == bpf
    cached[0].write_bytes(b"torn write")  # not a whole number of BPF instructions
    assert compile_filter(policy) == bpf
    assert cached[0].read_bytes() == bpf
