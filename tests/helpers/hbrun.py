"""Helpers for the `hardbox run` integration tests: a store with real images, the CLI, probes.

Each test module builds one store (module scope) with the busybox image imported by the
real `hardbox image import`, and drives `hardbox run` as a user would, in a subprocess with
``HARDBOX_ROOT`` pointing at that store. Small static C probes (compiled by gcc here, from
the source below) do what busybox cannot, such as TIOCSTI; they reach the container
through a read-only volume.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardbox.runtime.cgroups.base import beneath, cgroup_mounts, own_cgroups


@dataclass(frozen=True)
class RunStore:
    root: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "HARDBOX_DEBUG"}
        env["HARDBOX_ROOT"] = str(self.root)
        env.update(extra)
        return env

    def hardbox(self, *args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
        env = kw.pop("env", None) or self.env()
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [sys.executable, "-m", "hardbox", *args], capture_output=True, text=True,
            env=env, timeout=timeout, **kw,
        )

    def popen(self, *args: str, **kw: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            [sys.executable, "-m", "hardbox", *args], text=True, env=self.env(), **kw,
        )

    def containers(self) -> list[str]:
        d = self.root / "containers"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def make_store(root: Path, layout_ref: str, tag: str = "bbtest") -> RunStore:
    """Need root, then import the image with the real CLI."""
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, idmapped mounts and cgroups are set up for real")
    store = RunStore(root)
    proc = store.hardbox("image", "import", layout_ref, "--tag", tag)
    if proc.returncode != 0:
        raise AssertionError(f"hardbox image import {layout_ref} failed: {proc.stderr}")
    return store


def hardbox_cgroups(name_part: str = "hardbox-") -> list[Path]:
    """Every cgroup directory hardbox may have left, in every hierarchy we can see."""
    found: list[Path] = []
    own = own_cgroups()
    for mount in cgroup_mounts():
        for ctrl in mount.options:
            if ctrl in own:
                base = Path(beneath(mount, own[ctrl]))
                if base.is_dir():
                    found += [p for p in base.iterdir() if p.is_dir() and p.name.startswith(name_part)]
    return sorted(set(found))


PROBES = {
    # Push a character into the terminal on fd 0 with TIOCSTI; report what the kernel said.
    "tiocsti": r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
int main(void) {
    const char *cmd = "echo INJECTED\n";
    for (const char *c = cmd; *c; c++) {
        if (ioctl(0, TIOCSTI, c) != 0) { printf("TIOCSTI: %s\n", strerror(errno)); return 0; }
    }
    printf("TIOCSTI: injected\n");
    return 0;
}
""",
    # Call syscalls the strict filter names (answer EPERM) or leaves out (answer ENOSYS),
    # with arguments that make each one fail harmlessly even unfiltered as root (the control
    # test runs it on the host); print "name errno" for each.
    "syscalls": r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#define TRY(name, ...) do { errno = 0; long r = syscall(SYS_##name, __VA_ARGS__); \
    printf("%s %d\n", #name, r == -1 ? errno : 0); } while (0)
int main(void) {
    TRY(keyctl, 0, 0, 0, 0, 0);
    TRY(add_key, 0, 0, 0, 0, 0);
    TRY(request_key, 0, 0, 0, 0);
    TRY(bpf, 0, 0, 0);
    TRY(perf_event_open, 0, 0, -1, -1, 0);
    TRY(userfaultfd, 0);
    TRY(io_uring_setup, 0, 0);
    TRY(ptrace, 2 /* PEEKDATA of pid 0: ESRCH unfiltered */, 0, 0, 0);
    TRY(mount, 0, 0, 0, 0, 0);
    TRY(init_module, 0, 0, 0);
    TRY(kexec_load, 0, 0, 0, 0xdead0000 /* bad arch: EINVAL, never an unload */);
    TRY(setns, -1, 0);
    TRY(unshare, CLONE_NEWUSER);
    TRY(migrate_pages, 0, 0, 0, 0);
    TRY(clone3, 0, 0);
    return 0;
}
""",
    # What a process inside a container can reach of another process (pid argv[1]):
    # PTRACE_ATTACH, its /proc fd directory and every descriptor in it (opened, and listed
    # when it is a directory), its exe, cwd and root links, environ and mem. Prints one line
    # per attempt: "what ok DETAIL" or "what ERRNO_NAME".
    "reach": r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
static void fail(const char *what) { printf("%s %s\n", what, strerrorname_np(errno)); }
static void link_of(const char *pid, const char *name) {
    char path[256], target[4096];
    snprintf(path, sizeof path, "/proc/%s/%s", pid, name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) { fail(name); return; }
    target[n] = 0;
    printf("%s ok %s\n", name, target);
}
static void read_file(const char *pid, const char *name) {
    char path[256], buf[65536];
    snprintf(path, sizeof path, "/proc/%s/%s", pid, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { fail(name); return; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) { printf("%s opened %s\n", name, strerrorname_np(errno)); close(fd); return; }
    for (ssize_t i = 0; i < n; i++) if (buf[i] == 0) buf[i] = ' ';
    buf[n] = 0;
    printf("%s ok %s\n", name, buf);
    close(fd);
}
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *pid = argv[1];
    if (ptrace(PTRACE_ATTACH, atoi(pid), 0, 0) == 0) {
        printf("ptrace ok attached\n");
        waitpid(atoi(pid), 0, __WALL);
        ptrace(PTRACE_DETACH, atoi(pid), 0, 0);
    } else fail("ptrace");
    char dir[256];
    snprintf(dir, sizeof dir, "/proc/%s/fd", pid);
    DIR *d = opendir(dir);
    if (!d) fail("fd-dir");
    else {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char what[300], path[300];
            snprintf(what, sizeof what, "fd/%s", e->d_name);
            link_of(pid, what);
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) { fail(what); continue; }
            DIR *sub = fdopendir(fd);
            if (!sub) { printf("%s opened\n", what); close(fd); continue; }
            struct dirent *f;
            while ((f = readdir(sub))) printf("%s lists %s\n", what, f->d_name);
            closedir(sub);
        }
        closedir(d);
    }
    link_of(pid, "exe");
    link_of(pid, "cwd");
    link_of(pid, "root");
    read_file(pid, "environ");
    read_file(pid, "mem");
    return 0;
}
""",
    # A 32-bit socketcall(SYS_SOCKET, AF_VSOCK, SOCK_STREAM) through the i386 entry (int
    # 0x80 works from a 64-bit process): the call Docker's default profile lets through
    # because its archMap lists the 32-bit ABI. The static binary is not PIE, so ``args``
    # sits below 4 GiB where a 32-bit pointer reaches it. Prints the raw return value.
    "socketcall32": r"""
#include <stdio.h>
static unsigned int args[3] = {40 /* AF_VSOCK */, 1 /* SOCK_STREAM */, 0};
int main(void) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(102 /* socketcall */), "b"(1 /* SYS_SOCKET */), "c"(args) : "memory");
    printf("socketcall32 %ld\n", ret);
    return 0;
}
""",
}


def build_probes(dest: Path) -> Path:
    """Compile the probes statically into ``dest`` (they run on busybox, which has no libc)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (scripts/install-deps.sh installs it)")
    dest.mkdir(parents=True, exist_ok=True)
    for name, source in PROBES.items():
        src = dest / f"{name}.c"
        src.write_text(source)
        subprocess.run(["gcc", "-static", "-O2", "-o", str(dest / name), str(src)], check=True)
    os.chmod(dest, 0o755)
    return dest
