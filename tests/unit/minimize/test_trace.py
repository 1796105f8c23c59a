"""strace output parsing: only what processes do inside the container root counts."""

from __future__ import annotations

from hardbox.minimize.trace import parse_trace

# Shaped as strace 6.1 writes with --pidns-translation -f (the runtime's own start-up first).
TRACE = r'''100 openat(AT_FDCWD, "/usr/lib/python3.11/os.py", O_RDONLY) = 3
100 clone(child_stack=NULL, flags=SIGCHLD) = 101
101 mount("overlay", "/var/lib/hardbox/c/merged", "overlay", 0, "lowerdir=...") = 0
101 pivot_root(".", ".") = 0
101 chdir("/home/user") = 0
101 clone(child_stack=NULL, flags=SIGCHLD) = 1 /* 102 in strace's PID NS */
102 execve("/bin/sh", ["/bin/sh", "-c", "cat x"], 0x7ff /* 3 vars */) = 0
102 openat(AT_FDCWD, "x", O_RDONLY) = 3
102 openat(AT_FDCWD, "/etc/na\303\257ve\n", O_RDONLY) = -1 ENOENT (No such file or directory)
102 newfstatat(3, "rel", 0x7ffc, 0) = 0
102 openat(AT_FDCWD, "/proc/self/status", O_RDONLY <unfinished ...>
101 wait4(-1,  <unfinished ...>
102 <... openat resumed>) = 4
102 readlink("/lib64", "usr/lib64", 4095) = 9
100 openat(AT_FDCWD, "/etc/host-only", O_RDONLY) = 3
'''


def test_only_paths_after_the_root_switch_and_in_the_container_tree() -> None:
    result = parse_trace(TRACE.splitlines())
    assert result.paths == {"/bin/sh", "/home/user/x", "/etc/naïve\n", "/lib64"}
    assert result.execs == ["/bin/sh"]
    assert result.opened == {"/bin/sh", "/home/user/x", "/etc/naïve\n"}  # readlink only looks


def test_resumed_calls_are_glued_and_failed_root_switches_ignored() -> None:
    lines = [
        '5 chroot("/nope") = -1 ENOENT (No such file or directory)',
        '5 openat(AT_FDCWD, "/host/file", O_RDONLY) = 3',
        '5 chroot("/root") <unfinished ...>',
        '5 <... chroot resumed>) = 0',
        '5 openat(AT_FDCWD, "/inside", O_RDONLY) = 3',
    ]
    assert parse_trace(lines).paths == {"/inside"}
