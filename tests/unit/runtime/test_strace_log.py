"""strace -f logs read as whole calls in process-tree order, and the recorder built on them.

The lines are shaped as Debian's strace 6.1 wrote them with ``--pidns-translation -f -qq -s 0``
for a real `hardbox run --profile default` (pids and addresses as they were): 3560 is hardbox,
3580 the container's PID 1 (it installs the filter, then execs the workload), 3582 pasta.
"""

from __future__ import annotations

from hardbox.minimize.trace import parse_trace
from hardbox.runtime.profile.recorded import confined_syscalls
from hardbox.runtime.strace_log import Call, calls

# The container's filter install split by another process's lines (seen in 1 run of 8 here).
SPLIT_FILTER = """\
3560  clone(child_stack=NULL, flags=CLONE_NEWUSER|SIGCHLD) = 3580
3580  access("/bin/sh", X_OK)           = 0
3580  prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) = 1
3580  prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {len=496, filter=0x5616bb5cced0} <unfinished ...>
3560  read(8, ""..., 8388608)           = 86
3560  epoll_wait(4,  <unfinished ...>
3580  <... prctl resumed>)              = 0
3580  execve("/bin/sh", [...], 0x7fd5daf4c1b0 /* 3 vars */ <unfinished ...>
3560  <... epoll_wait resumed>[...], 8, 1000) = 1
3580  <... execve resumed>)             = 0
3580  brk(NULL <unfinished ...>
3560  close(3 <unfinished ...>
3580  <... brk resumed>)                = 0x43ba000
3580  socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3
3580  bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
3580  accept(3,  <unfinished ...>
3560  <... close resumed>)              = 0
"""

# A vfork'd child runs to its exit before its parent's clone returns its pid.
CHILD_FIRST = """\
3560  clone(child_stack=NULL, flags=SIGCHLD) = 3580
3580  prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {len=496, filter=0x1}) = 0
3580  execve("/bin/sh", [...], 0x7ff /* 3 vars */) = 0
3580  clone(child_stack=0x7fffb4c831e0, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>
3586  execve("/bin/wget", [...], 0x7ff /* 3 vars */) = 0
3586  connect(3, {sa_family=AF_INET, sin_port=htons(8080)}, 16) = -1 EPERM (Operation not permitted)
3586  exit_group(1)                     = ?
3580  <... clone resumed>)              = 6 /* 3586 in strace's PID NS */
3580  wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 1}], 0, NULL) = 6
"""


def test_split_calls_are_glued_and_a_call_never_resumed_is_still_a_call() -> None:
    got = list(calls(SPLIT_FILTER.splitlines()))
    prctl = next(c for c in got if c.name == "prctl" and c.args.startswith("PR_SET_SECCOMP"))
    assert prctl == Call(3580, "prctl", "PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {len=496, filter=0x5616bb5cced0} ",
                         "0", None, None)
    assert prctl.ok
    assert [c.name for c in got if c.pid == 3580] == [
        "access", "prctl", "prctl", "execve", "brk", "socket", "bind", "accept"]
    accept = got[-1]  # blocked until the recording killed it: given last, with no result
    assert (accept.name, accept.result, accept.ok) == ("accept", "?", False)
    assert next(c for c in got if c.name == "epoll_wait").args == "4,  [...], 8, 1000"


def test_a_child_is_given_after_the_fork_that_made_it_with_its_translated_pid() -> None:
    got = list(calls(CHILD_FIRST.splitlines()))
    assert [(c.pid, c.name) for c in got] == [
        (3560, "clone"), (3580, "prctl"), (3580, "execve"), (3580, "clone"),
        (3586, "execve"), (3586, "connect"), (3586, "exit_group"), (3580, "wait4")]
    assert got[0].child == 3580 and got[3].child == 3586  # strace's pid, not the namespace's 6
    assert got[5].errno == "EPERM" and not got[5].ok


def test_a_pid_no_fork_names_is_given_at_the_end() -> None:
    lines = ["1 getpid() = 1", "9 getuid() = 0", "1 exit_group(0) = ?"]
    assert [(c.pid, c.name) for c in calls(lines)] == [(1, "getpid"), (1, "exit_group"), (9, "getuid")]


def test_the_recorder_counts_a_filter_installed_in_a_split_call() -> None:
    log = confined_syscalls(SPLIT_FILTER.splitlines())
    # Before strace_log, the split prctl hid the filter: nothing of the workload counted.
    assert {"execve", "brk", "socket", "bind", "accept"} <= log.names
    assert "access" not in log.names and "read" not in log.names  # before the filter / hardbox's


def test_the_recorder_counts_a_child_that_ran_before_its_fork_returned() -> None:
    log = confined_syscalls(CHILD_FIRST.splitlines())
    assert {"connect", "exit_group", "wait4"} <= log.names
    assert log.refused == {"connect"}


def test_minimize_follows_a_child_that_ran_before_its_fork_returned() -> None:
    lines = [
        '10 chroot("/root") = 0',
        '10 chdir("/app") = 0',
        "10 vfork( <unfinished ...>",
        '11 openat(AT_FDCWD, "data.txt", O_RDONLY) = 3',
        "10 <... vfork resumed>) = 11",
    ]
    assert parse_trace(lines).paths == {"/app/data.txt"}
