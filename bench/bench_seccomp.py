"""Per-syscall cost under strict's seccomp filter against Docker's default behaviour.

Not a timed test: run it by hand (as root or any user), ``python bench/bench_seccomp.py``.
A tiny C probe (compiled here with cc) issues N raw syscalls in a loop and reports ns/call;
it runs three times per syscall: with no filter, under policies/seccomp/default.json (for the
default profile's capabilities, as `hardbox run` compiles it) and under strict.json. The
filter is installed by hardbox's own ``install_filter`` in the forked child, which then
execs the probe (a seccomp filter survives execve). Goal (issue 3): strict costs no more
than default per syscall, although it says more.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.seccomp import compile_policy, install_filter

PROBE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long nr = atol(argv[1]), n = atol(argv[2]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) syscall(nr, -1, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"""

# getppid: first in no list; read/close: early in the allowlist; writev/fstatfs: late;
# keyctl: named EPERM; cachestat: unnamed (default action ENOSYS).
SYSCALLS = ("getppid", "read", "close", "fstatfs", "writev", "keyctl", "cachestat")


def build_probe(workdir: Path) -> Path:
    src, exe = workdir / "probe.c", workdir / "probe"
    src.write_text(PROBE)
    subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def run_once(exe: Path, nr: int, n: int, bpf: bytes | None) -> float:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.dup2(write_fd, 1)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one CPU: less migration noise
        if bpf is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            install_filter(bpf)
        os.execv(str(exe), [str(exe), str(nr), str(n)])
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        out = fh.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit(f"probe failed for syscall {nr} (status {status})")
    return float(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2_000_000, help="syscalls per measurement")
    parser.add_argument("-r", "--repeat", type=int, default=7, help="measurements per cell (best)")
    args = parser.parse_args()
    if shutil.which("cc") is None:
        raise SystemExit("cc is needed to build the probe")
    import pyseccomp

    with tempfile.TemporaryDirectory() as tmp:
        exe = build_probe(Path(tmp))
        cache = Path(tmp) / "cache"
        default, strict = load_profile("default"), load_profile("strict")
        assert default.seccomp is not None and strict.seccomp is not None
        filters = {
            "none": None,
            "default": compile_policy(default.seccomp, default.capabilities, cache_dir=cache).bpf,
            "strict": compile_policy(strict.seccomp, (), cache_dir=cache).bpf,
        }
        sizes = {k: (len(v) // 8 if v else 0) for k, v in filters.items()}
        print(f"BPF instructions: default {sizes['default']}, strict {sizes['strict']}")
        print(f"{'syscall':<10} {'none':>8} {'default':>8} {'strict':>8}  ns/call (best of {args.repeat})")
        ratios = []
        for name in SYSCALLS:
            nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            cells = {
                label: min(run_once(exe, nr, args.n, bpf) for _ in range(args.repeat))
                for label, bpf in filters.items()
            }
            ratios.append(cells["strict"] / cells["default"])
            print(f"{name:<10} {cells['none']:>8.1f} {cells['default']:>8.1f} {cells['strict']:>8.1f}")
        print(f"strict/default, geometric mean: {statistics.geometric_mean(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
