"""The dynamic half of minimization: every path a probe's processes touch, read from strace.

The probe runs under the container runtime, and the runtime runs under Debian's ``strace -f``
on the host. Tracing from outside needs nothing inside the image (no strace binary, no
ptrace permission under the container's seccomp filter) and sees every process the probe
starts. The runtime's own start-up runs in the same process tree, so only what a process does
after it entered the container root (a successful ``pivot_root`` or ``chroot``), and what its
children do, is kept. Paths are recorded as the process named them, which after the switch
are paths inside the image; relative paths are joined to the process's working directory as
tracked from ``chdir``. /proc, /sys and /dev belong to the runtime, not the image.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hardbox.errors import HardboxError
from hardbox.runtime.strace_log import calls

# --pidns-translation: the probe runs in its own pid namespace, where clone() returns the
# child's pid in that namespace; strace then also prints the pid it traces it by.
STRACE_ARGS = ("--pidns-translation", "-f", "-qq", "-s", "4096", "-e", "trace=%file,%process,chroot,pivot_root,chdir,fchdir")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_AT_SYSCALLS = {"openat", "openat2", "newfstatat", "fstatat64", "statx", "faccessat", "faccessat2",
                "readlinkat", "execveat", "mkdirat", "unlinkat", "fchmodat", "fchownat", "utimensat",
                "name_to_handle_at", "mknodat"}
_IGNORED_PREFIXES = ("/proc", "/sys", "/dev")
# Calls that need a file's content; stat, access and readlink only need it to exist.
_OPENING = {"open", "openat", "openat2", "creat", "execve", "execveat"}


class TraceError(HardboxError):
    """strace is missing or the traced command could not be started."""


def _unescape(text: str) -> str:
    """strace prints C string literals: \\n, \\t, \\", \\\\, \\ooo and \\xNN escapes."""
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        c = raw[i]
        if c != 0x5C or i + 1 >= len(raw):
            out.append(c)
            i += 1
            continue
        nxt = chr(raw[i + 1])
        simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, '"': 34, "\\": 92}
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        elif nxt.isdigit():
            j = i + 1
            while j < len(raw) and j < i + 4 and chr(raw[j]).isdigit():
                j += 1
            out.append(int(raw[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


@dataclass
class _Proc:
    inside: bool = False
    cwd: str = "/"


@dataclass
class TraceResult:
    paths: set[str] = field(default_factory=set)  # every path touched
    opened: set[str] = field(default_factory=set)  # read or executed, not just looked up
    execs: list[str] = field(default_factory=list)


def parse_trace(lines: Iterable[str]) -> TraceResult:
    """Parse ``strace -f`` output into the paths touched inside the container root.

    runtime/strace_log.calls glues split calls and gives a child's calls after the fork
    that made it, so a child that ran before its parent's fork returned still inherits the
    parent's root and working directory."""
    procs: dict[int, _Proc] = {}
    result = TraceResult()
    for call in calls(lines):
        proc = procs.setdefault(call.pid, _Proc())
        if call.child is not None:
            procs[call.child] = _Proc(proc.inside, proc.cwd)
            continue
        strings = [_unescape(s) for s in _STRING.findall(call.args)]
        if call.name in ("chroot", "pivot_root") and call.ok:
            proc.inside, proc.cwd = True, "/"
            continue
        if call.name == "chdir" and call.ok and strings:
            proc.cwd = posixpath.normpath(posixpath.join(proc.cwd, strings[0]))
            continue
        if not proc.inside or not strings:
            continue
        if call.name in _AT_SYSCALLS and not call.args.startswith("AT_FDCWD") and not strings[0].startswith("/"):
            continue  # relative to a directory fd we cannot name: skipped
        path = posixpath.normpath(posixpath.join(proc.cwd, strings[0]))
        if any(path == p or path.startswith(p + "/") for p in _IGNORED_PREFIXES):
            continue
        result.paths.add(path)
        if call.name in _OPENING:
            result.opened.add(path)
        if call.name in ("execve", "execveat"):
            result.execs.append(path)
    return result


def trace_command(
    argv: Sequence[str], out_dir: Path, *, timeout: float = 300, env: dict[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> tuple[subprocess.CompletedProcess[bytes], TraceResult]:
    """Run ``argv`` under ``strace -f`` and return its result and the paths it touched."""
    strace = shutil.which("strace")
    if strace is None:
        raise TraceError("the dynamic trace needs strace", hint="apt-get install strace, or pass --no-trace")
    log = out_dir / "strace.log"
    proc = subprocess.run([strace, *STRACE_ARGS, "-o", str(log), *argv],
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env,
                          preexec_fn=preexec_fn)
    with open(log, encoding="utf-8", errors="surrogateescape") as fh:
        return proc, parse_trace(fh)
