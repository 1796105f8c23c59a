"""Reading ``strace -f`` output as whole calls, each process's calls after the call that made it.

Two readers use this: ``hardbox profile record`` (runtime/profile/recorded.py: which syscalls
the container's processes made) and ``hardbox minimize`` (minimize/trace.py: which paths they
touched). Both trace a whole `hardbox run` from the host with ``strace -f
--pidns-translation``, and both must decide, call by call, whether the calling process belongs
to the container. Two things strace does with several processes make that a race if each line
is read as it comes:

- A call that blocks while another process runs is split: ``PID name(args <unfinished ...>``,
  other lines, then ``PID <... name resumed>rest``. The two halves are glued back here, so a
  reader sees the call's arguments and its result together. (A split
  ``prctl(PR_SET_SECCOMP, …)`` read as two halves once hid the container's filter from the
  recorder: its calls were not counted, and the recorded profile refused the workload.) A call
  never resumed (its process killed while it blocked, as a server in ``accept`` is at the end
  of a recording) is still a call the process made: it is given at the end, with result ``?``.
- A new process may make calls before its parent's ``clone`` returns the child's pid to the
  log. Those lines are held back and given right after the fork call that names the pid, so a
  reader that follows the process tree (``Call.child``) never sees a process before its parent
  made it. The trace's first process needs no parent; a pid no fork ever names is given at
  the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
_UNFINISHED = re.compile(r"^(\d+)\s+(\w+)\((.*)<unfinished \.\.\.>$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
_WHOLE = re.compile(r"^(\d+)\s+(\w+)\((.*)$")
# "args) = result": strace pads short lines with spaces before "=" (to column 40), so the
# last ")" followed by " = " or by spaces and "= " ends the arguments.
_TAIL = re.compile(r"^(.*)\)\s+= (.*)$")
# After "args) = ": the value, strace's own pid for it when the caller is in another pid
# namespace (--pidns-translation), and the errno name of a failure.
_RESULT = re.compile(r"^(-?\d+|0x[0-9a-f]+|\?)(?: /\* (\d+) in strace's PID NS \*/)?(?: (E[A-Z0-9]+))?")


class Call(NamedTuple):
    """One system call as strace logged it."""

    pid: int  # the caller, as strace's pid namespace numbers it
    name: str
    args: str  # the argument text between the parentheses ("" when it was never printed)
    result: str  # "0", "-1", "0x7f…", or "?" (no return: the process ended, or never resumed)
    errno: str | None  # "EPERM", "ENOENT", … when it failed
    child: int | None  # a fork call that succeeded: the new process's pid, as strace numbers it

    @property
    def ok(self) -> bool:
        return self.result != "?" and not self.result.startswith("-")


def _call(pid: int, name: str, text: str) -> Call:
    """A call from the text after ``name(``: ``args) = result …`` (or no result at all)."""
    whole = _TAIL.match(text)
    if whole is None:
        return Call(pid, name, text.removesuffix(")").rstrip(), "?", None, None)
    args, tail = whole.group(1), whole.group(2)
    m = _RESULT.match(tail)
    if m is None:
        return Call(pid, name, args, "?", None, None)
    result, translated, errno = m.group(1), m.group(2), m.group(3)
    child = None
    if name in FORKS and result != "?" and not result.startswith("-"):
        child = int(translated or result, 0)
    return Call(pid, name, args, result, errno, child)


def calls(lines: Iterable[str]) -> Iterator[Call]:
    """Every call of a ``strace -f`` log, glued and ordered as the module docstring says."""
    pending: dict[int, tuple[str, str]] = {}  # pid -> (name, args so far) of a split call
    known: set[int] = set()  # the first pid, and every pid a fork call has named
    held: dict[int, list[Call]] = {}  # calls of pids no fork has named yet, in order

    def deliver(call: Call) -> Iterator[Call]:
        if call.pid not in known:
            if known:
                held.setdefault(call.pid, []).append(call)
                return
            known.add(call.pid)  # the trace's first process
        yield call
        if call.child is not None:
            known.add(call.child)
            for early in held.pop(call.child, ()):
                yield from deliver(early)

    for raw in lines:
        line = raw.rstrip("\n")
        if m := _UNFINISHED.match(line):
            pending[int(m.group(1))] = (m.group(2), m.group(3))
            continue
        if m := _RESUMED.match(line):
            pid, name = int(m.group(1)), m.group(2)
            head_name, head = pending.pop(pid, (name, ""))
            if head_name != name:  # not the half we hold: keep what can be read of it
                head = ""
            yield from deliver(_call(pid, name, head + m.group(3)))
            continue
        if m := _WHOLE.match(line):
            yield from deliver(_call(int(m.group(1)), m.group(2), m.group(3)))
    for pid, (name, head) in pending.items():
        yield from deliver(Call(pid, name, head.rstrip(), "?", None, None))
    for early in list(held.values()):
        yield from early
