"""What the profiles promise, asserted from inside real busybox containers."""

from __future__ import annotations

import errno
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, build_probes, make_store

from hardbox.runtime import capabilities
from hardbox.runtime.profile.load import load_profile

pytestmark = pytest.mark.root

# One container per profile prints facts; each test reads the ones it is about.
PROBE = r"""
fact() { printf '%s=%s\n' "$1" "$2"; }
for k in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do
  fact $k "$(grep "^$k:" /proc/self/status | cut -f2)"
done
fact uid_map "$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
fact gid_map "$(cat /proc/self/gid_map | tr -s ' ' | sed 's/^ //')"
fact keys "$(cat /proc/keys 2>&1 | wc -c)"
fact timer_list "$(cat /proc/timer_list 2>&1 | wc -c)"
fact kallsyms "$(cat /proc/kallsyms 2>/dev/null | wc -c)"
fact firmware "$(ls /sys/firmware 2>&1 | wc -l)"
fact proc_sys_write "$( (echo x > /proc/sys/kernel/hostname) 2>&1 | grep -o 'Read-only file system')"
fact mountpoints "$(cut -d' ' -f5 /proc/self/mountinfo | tr '\n' ' ')"
fact ro_mounts "$(grep -E ' (ro|ro,[^ ]*) ' /proc/self/mountinfo | cut -d' ' -f5 | tr '\n' ' ')"
fact netdevs "$(ls /sys/class/net | tr '\n' ' ')"
fact procnet "$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
fact lo_up "$(cat /sys/class/net/lo/flags)"
fact root_write "$(touch /hardbox-probe 2>&1 | grep -o 'Read-only file system' || echo writable)"
fact tmp_exec "$(cp /bin/busybox /tmp/true && /tmp/true 2>/dev/null && echo exec || echo noexec)"
fact tmp_mount "$(grep ' /tmp ' /proc/self/mounts | cut -d' ' -f4)"
fact root_lower "$(grep -E '^[0-9]+ [0-9]+ [0-9:]+ / / ' /proc/self/mountinfo | grep -oE 'lowerdir[+]?=')"
fact passwd_owner "$(stat -c %u:%g /etc/passwd)"
fact home_owner "$(stat -c %u:%g /home/user)"
fact userns "$(unshare -U true 2>/dev/null && echo allowed || echo refused)"
fact pid1 "$$"
fact nprocs "$(ls -d /proc/[0-9]* | wc -l)"
fact init_comm "$(cat /proc/1/comm)"
fact dev "$(ls /dev | tr '\n' ' ')"
fact hostname "$(hostname)"
"""


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-hardening") / "store", busybox_layout.ref)


# A kernel before 6.13 refuses fsconfig(FSCONFIG_SET_FD, "lowerdir+"): EINVAL on 6.5-6.12
# (the key takes a string), EOPNOTSUPP before 6.5 (overlayfs still on the legacy mount API,
# fs/fsopen.c). hardbox is run under a seccomp filter giving exactly that answer, so the
# automatic fallback runs on this newer kernel for real.
FSCONFIG_SET_FD = 5
OLD_KERNELS = {"auto, 6.5-6.12 (EINVAL)": "EINVAL", "auto, before 6.5 (EOPNOTSUPP)": "EOPNOTSUPP"}
OLD_KERNEL = """
import errno, os, sys
import pyseccomp
rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
rules.add_rule(pyseccomp.ERRNO(errno.{errno}), "fsconfig", pyseccomp.Arg(1, pyseccomp.EQ, {cmd}))
rules.load()
os.execv(sys.executable, [sys.executable, "-m", "hardbox", *sys.argv[1:]])
"""


@pytest.fixture(scope="module", params=["fd", "paths", *OLD_KERNELS])
def overlay_mode(request) -> str:
    """Both ways of handing idmapped layers to overlayfs (runtime/overlay.py): by fd (Linux
    6.13+) and the staged-paths fallback older kernels use, forced here on a new one — and
    chosen by ``auto`` itself when the kernel refuses ``lowerdir+`` by fd (OLD_KERNEL)."""
    if request.param == "fd" and _kernel() < (6, 13):
        pytest.skip(f"fsconfig lowerdir+ by fd needs Linux 6.13; this is {platform.release()}")
    return str(request.param)


def _kernel() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def facts(store: RunStore, mode: str, profile: str, *options: str) -> dict[str, str]:
    args = ("run", "--rm", "--profile", profile, *options, "bbtest", "sh", "-c", PROBE)
    if mode in OLD_KERNELS:
        script = OLD_KERNEL.format(errno=OLD_KERNELS[mode], cmd=FSCONFIG_SET_FD)
        proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                              env=store.env(HARDBOX_OVERLAY_MODE="auto"), timeout=60)
    else:
        proc = store.hardbox(*args, env=store.env(HARDBOX_OVERLAY_MODE=mode))
    assert proc.returncode == 0, proc.stderr
    out = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        out[key] = value.strip()
    return out


@pytest.fixture(scope="module")
def strict(store, overlay_mode) -> dict[str, str]:
    return facts(store, overlay_mode, "strict")


@pytest.fixture(scope="module")
def default(store, overlay_mode) -> dict[str, str]:
    return facts(store, overlay_mode, "default")


@pytest.fixture(scope="module")
def default_root(store, overlay_mode) -> dict[str, str]:
    return facts(store, overlay_mode, "default", "--user", "0")


def test_the_root_overlay_took_the_route_asked_for(strict, overlay_mode):
    want = "lowerdir+=" if overlay_mode == "fd" else "lowerdir="
    assert strict["root_lower"] == want


def test_strict_has_no_capabilities_no_new_privs_and_seccomp(strict):
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(strict[k], 16) == 0, k
    assert strict["NoNewPrivs"] == "1"
    assert strict["Seccomp"] == "2"


def test_default_root_has_exactly_the_profile_capabilities(default_root):
    want = capabilities.to_mask(load_profile("default").capabilities)
    assert want != 0
    for k in ("CapPrm", "CapEff", "CapBnd"):
        assert int(default_root[k], 16) == want, k
    # Empty, as Docker's since CVE-2022-24769 (issue 16): root needs neither.
    assert int(default_root["CapInh"], 16) == 0 and int(default_root["CapAmb"], 16) == 0
    assert default_root["NoNewPrivs"] == "1" and default_root["Seccomp"] == "2"
    assert not int(default_root["CapBnd"], 16) & (1 << capabilities.number("NET_RAW"))


def test_default_non_root_user_has_no_effective_capabilities(default):
    """The image's USER 1000 runs unprivileged: the list stays only in the bounding set."""
    want = capabilities.to_mask(load_profile("default").capabilities)
    assert int(default["CapBnd"], 16) == want
    for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(default[k], 16) == 0, k
    assert default["NoNewPrivs"] == "1" and default["Seccomp"] == "2"


def test_user_namespace_maps_root_to_an_unprivileged_range(strict):
    inside, outside, count = strict["uid_map"].split()
    assert inside == "0" and int(outside) >= 1000 and int(count) > 1000
    assert strict["gid_map"].split()[1] == outside


def test_masked_and_read_only_proc_paths(strict):
    assert strict["keys"] == "0"
    assert strict["timer_list"] == "0"
    assert strict["kallsyms"] == "0"
    assert strict["firmware"] == "0"
    assert strict["proc_sys_write"] == "Read-only file system"
    mountpoints = set(strict["mountpoints"].split())
    read_only = set(strict["ro_mounts"].split())
    profile = load_profile("strict")
    # Paths this kernel has (the host's /proc) must be covered inside; absent ones cannot be.
    for path in profile.masked_paths:
        if os.path.exists(path):
            assert path in mountpoints, f"{path} is not masked"
    for path in profile.readonly_paths:
        if os.path.exists(path):
            assert path in read_only, f"{path} is not read-only"


def test_network_devices_and_lo_up(strict, default):
    # strict (network none): loopback only; default (private): loopback and pasta's tap.
    assert strict["netdevs"].split() == ["lo"]
    assert strict["procnet"].split() == ["lo"]
    assert sorted(default["netdevs"].split()) == sorted(default["procnet"].split())
    assert set(default["netdevs"].split()) == {"lo", _uplink_interface()}
    for f in (strict, default):
        assert int(f["lo_up"], 16) & 1


def _uplink_interface() -> str:
    """The host's default-route interface: pasta names the container's tap after it."""
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000" and int(fields[3], 16) & 2:
            return fields[0]
    raise AssertionError("the host has no default route")


def test_strict_root_is_read_only_and_tmp_noexec(strict):
    assert strict["root_write"] == "Read-only file system"
    assert strict["tmp_exec"] == "noexec"
    assert {"nosuid", "nodev", "noexec"} <= set(strict["tmp_mount"].split(","))


def test_default_root_is_writable_and_tmp_exec(default):
    assert default["root_write"] == "writable"
    assert default["tmp_exec"] == "exec"
    assert {"nosuid", "nodev"} <= set(default["tmp_mount"].split(","))


def test_files_are_owned_as_the_image_says(strict):
    assert strict["passwd_owner"] == "0:0"
    assert strict["home_owner"] == "1000:1000"


def test_no_nested_user_namespace(strict, default):
    assert strict["userns"] == "refused"
    assert default["userns"] == "refused"


def test_own_pid_namespace_and_minimal_dev(strict):
    assert strict["pid1"] == "1"
    assert strict["init_comm"] == "sh"  # PID 1 is the container's command, not the host's init
    assert int(strict["nprocs"]) <= 6  # sh and the few processes of the probe's pipeline
    devs = set(strict["dev"].split())
    assert {"null", "zero", "full", "random", "urandom", "pts", "shm", "fd", "stdin", "stdout", "stderr", "ptmx"} <= devs
    assert not devs & {"sda", "vda", "mem", "kmsg", "console"}


def test_host_network_is_a_recorded_weakening(store):
    proc = store.hardbox("run", "--name", "hostnet", "--network", "host", "bbtest", "ls", "/sys/class/net")
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == sorted(os.listdir("/sys/class/net"))
    listed = store.hardbox("ps", "-a", "--json")
    [state] = [s for s in json.loads(listed.stdout) if s["name"] == "hostnet"]
    assert state["weakenings"] == ["network: private -> host (--network host)"]
    assert store.hardbox("rm", "hostnet").returncode == 0


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    base = tmp_path_factory.mktemp("probes")
    os.chmod(base, 0o755)
    return build_probes(base / "bin")


def test_strict_seccomp_answers_eperm_for_named_and_enosys_for_the_rest(store, probes):
    proc = store.hardbox("run", "--rm", "--profile", "strict", "-v", f"{probes}:/probe", "bbtest", "/probe/syscalls")
    assert proc.returncode == 0, proc.stderr
    got = {name: errno.errorcode.get(int(num), num) for name, num in (line.split() for line in proc.stdout.splitlines())}
    named = ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
             "ptrace", "mount", "init_module", "kexec_load", "setns", "unshare")
    assert {n: got[n] for n in named} == dict.fromkeys(named, "EPERM")
    # Not in the allowlist at all: ENOSYS, so libc falls back (clone3 -> clone).
    assert got["migrate_pages"] == "ENOSYS"
    assert got["clone3"] == "ENOSYS"


def test_probe_without_seccomp_gets_other_answers(probes):
    """Control: on the host (no filter) the same calls fail differently, so the test above
    sees the filter's answers, not the kernel's."""
    import subprocess

    out = subprocess.run([str(probes / "syscalls")], capture_output=True, text=True, check=True).stdout
    got = {name: errno.errorcode.get(int(num), num) for name, num in (line.split() for line in out.splitlines())}
    assert got["migrate_pages"] != "ENOSYS" and got["clone3"] != "ENOSYS"
    assert got["bpf"] != "EPERM" or got["mount"] != "EPERM"
