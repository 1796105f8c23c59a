"""`hardbox exec`: a process in a running container, with its hardening and nothing of the host.

Real containers of the real busybox image, started detached by `hardbox run -d`, and real
`hardbox exec` processes; what each exec'd process sees is compared with what the host
kernel reports of the container's PID 1 (/proc/PID/status, read from outside).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, build_probes, make_store
from helpers.terminal import drain

pytestmark = pytest.mark.root

HARDENING = ("Seccomp:", "Seccomp_filters:", "NoNewPrivs:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:")


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("exec") / "store", busybox_layout.ref)


@pytest.fixture
def running(store) -> Iterator[Callable[..., dict]]:
    """Start detached containers (``sh -c SCRIPT``); all removed after the test."""
    started: list[str] = []

    def start(*run_args: str, script: str = "exec sleep 600") -> dict:
        proc = store.hardbox("run", "-d", *run_args, "bbtest", "sh", "-c", script)
        assert proc.returncode == 0, proc.stderr
        cid = proc.stdout.strip()
        started.append(cid)
        return state_of(store, cid)

    yield start
    for cid in started:
        store.hardbox("rm", "-f", cid)


def state_of(store: RunStore, cid: str) -> dict:
    states = json.loads(store.hardbox("ps", "-a", "--json").stdout)
    return next(s for s in states if s["id"] == cid)


def hardening_lines(status: str) -> list[str]:
    return [line for line in status.splitlines() if line.startswith(HARDENING)]


@pytest.mark.parametrize("profile,user", [("default", "0"), ("default", "1000"), ("strict", "1000")])
def test_exec_gets_the_hardening_of_pid1_and_no_more(store, running, profile, user):
    st = running("--profile", profile, "-u", user)
    pid1_status = Path(f"/proc/{st['pid']}/status").read_text()
    proc = store.hardbox("exec", st["id"], "cat", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert hardening_lines(proc.stdout) == hardening_lines(pid1_status)
    assert "Seccomp:\t2" in proc.stdout and "NoNewPrivs:\t1" in proc.stdout
    if profile == "strict":
        assert "CapEff:\t0000000000000000" in proc.stdout
    # -u root into a container of uid 1000 does not widen the capability set either.
    root = store.hardbox("exec", "-u", "0", st["id"], "cat", "/proc/self/status")
    bounding = [line for line in hardening_lines(pid1_status) if line.startswith("CapBnd:")]
    assert [line for line in hardening_lines(root.stdout) if line.startswith("CapBnd:")] == bounding


def cap_sets(status: str) -> dict[str, int]:
    return {k: int(v.strip(), 16) for k, _, v in (line.partition(":") for line in status.splitlines())
            if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_exec_under_the_default_profile_has_empty_inheritable_and_ambient_sets(store, running):
    st = running("--profile", "default", "-u", "1000")
    for user in ((), ("-u", "0")):
        proc = store.hardbox("exec", *user, st["id"], "cat", "/proc/self/status")
        assert proc.returncode == 0, proc.stderr
        got = cap_sets(proc.stdout)
        assert got["CapInh"] == 0 and got["CapAmb"] == 0, (user, got)


def test_exec_applies_the_profiles_ambient_capabilities(store, running, tmp_path):
    """A profile naming an ambient capability: the exec'd process (uid 1000, no file
    capabilities) holds exactly that one in CapAmb, as PID 1 does, and uses it."""
    profile = tmp_path / "web.yaml"
    profile.write_text("extends: default\n"
                       "capabilities_ambient:\n"
                       "  - name: NET_BIND_SERVICE\n"
                       "    reason: binds port 80 as user 1000\n")
    bind = 1 << 10  # CAP_NET_BIND_SERVICE
    st = running("--profile", str(profile), "-u", "1000")
    pid1 = cap_sets(Path(f"/proc/{st['pid']}/status").read_text())
    assert pid1["CapAmb"] == bind
    proc = store.hardbox("exec", st["id"], "sh", "-c",
                         "cat /proc/self/status; nc -l -p 80 & sleep 0.5; netstat -ltn; kill $!")
    assert proc.returncode == 0, proc.stderr
    got = cap_sets(proc.stdout)
    assert got["CapAmb"] == bind and got["CapInh"] == bind, got
    assert got["CapPrm"] == bind and got["CapEff"] == bind, got
    assert got["CapBnd"] == pid1["CapBnd"]
    assert ":80 " in proc.stdout  # uid 1000 bound a privileged port with it


def test_exec_sees_the_containers_filesystem_pid1_and_hostname(store, running):
    st = running(script="echo container-made > /tmp/mark; exec sleep 600")
    time.sleep(0.3)
    proc = store.hardbox("exec", st["id"], "sh", "-c",
                         "cat /tmp/mark; tr '\\0' ' ' < /proc/1/cmdline; echo; hostname; grep PPid /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "container-made"
    assert lines[1].strip() == "sleep 600"
    assert lines[2] == st["id"][:12]
    assert lines[3].split() == ["PPid:", "0"]  # its parent is outside the pid namespace


def test_exec_passes_the_exit_status_through(store, running):
    st = running()
    assert store.hardbox("exec", st["id"], "sh", "-c", "exit 7").returncode == 7
    assert store.hardbox("exec", st["id"], "sh", "-c", "kill -9 $$").returncode == 137
    assert store.hardbox("exec", st["id"], "/no/such").returncode == 127
    assert store.hardbox("exec", st["id"], "/etc/passwd").returncode == 126


def test_exec_into_a_stopped_or_stale_container_is_refused(store, running):
    st = running()
    assert store.hardbox("stop", "-t", "1", st["id"]).returncode == 0
    proc = store.hardbox("exec", st["id"], "true")
    assert proc.returncode == 125
    assert "is not running (exited)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # the message and its hint

    st = running()
    os.kill(st["monitor_pid"], 9)  # hardbox killed: PID 1 dies with it, the state stays
    deadline = time.monotonic() + 10
    while state_of(store, st["id"])["status"] != "stale" and time.monotonic() < deadline:
        time.sleep(0.1)
    proc = store.hardbox("exec", st["id"], "true")
    assert proc.returncode == 125 and "(stale)" in proc.stderr

    assert store.hardbox("exec", "no-such-container", "true").returncode == 125


def test_a_changed_seccomp_record_is_refused(store, running):
    """exec installs the BPF PID 1 installed, read back from the state dir and checked
    against the sha256 recorded at start: a file changed since is refused, never loaded."""
    st = running("--profile", "strict")
    bpf = store.root / "containers" / st["id"] / "seccomp.bpf"
    assert store.hardbox("exec", st["id"], "true").returncode == 0
    data = bpf.read_bytes()
    weakened = data[:-8] + bytes.fromhex("060000000000ff7f")  # the last return: SECCOMP_RET_ALLOW
    assert weakened != data
    bpf.write_bytes(weakened)
    proc = store.hardbox("exec", st["id"], "true")
    assert proc.returncode == 125
    assert "does not match its recorded sha256" in proc.stderr


def test_exec_gets_no_host_environment_cwd_or_interpreter(store, running, tmp_path):
    st = running("-e", "FROM_RUN=r")
    proc = store.hardbox("exec", "-e", "FROM_EXEC=e", st["id"], "sh", "-c",
                         "env; echo cwd=$(pwd); echo exe=$(readlink /proc/self/exe)",
                         env=store.env(HOST_SECRET="leak"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert env["FROM_RUN"] == "r" and env["FROM_EXEC"] == "e"
    assert "HOST_SECRET" not in env and "HARDBOX_ROOT" not in proc.stdout
    assert env["cwd"] == "/"
    assert env["exe"] == "/bin/busybox"  # the container's program, not hardbox's python
    assert str(tmp_path) not in proc.stdout


def test_a_host_directory_fd_of_hardbox_is_not_reachable(store, running, tmp_path):
    """CVE-2024-21626's shape: hardbox holds a descriptor of a host directory; the exec'd
    process must not find it in /proc/self/fd nor enter it as its working directory."""
    host_dir = tmp_path / "host-secret-dir"
    host_dir.mkdir()
    (host_dir / "secret").write_text("host data\n")
    st = running("-u", "0")
    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        def ex(*args: str) -> subprocess.CompletedProcess[str]:
            return store.hardbox(*args, pass_fds=(fd,))

        listing = ex("exec", st["id"], "ls", "-l", "/proc/self/fd")
        assert listing.returncode == 0, listing.stderr
        fds = {line.split()[-3] if "->" in line else line.split()[-1]
               for line in listing.stdout.splitlines()[1:]}
        assert fds <= {"0", "1", "2", "3"}  # stdio, and ls's own open of /proc/self/fd
        assert str(host_dir) not in listing.stdout
        for args in (("-w", f"/proc/self/fd/{fd}"), ()):
            proc = ex("exec", *args, st["id"], "sh", "-c",
                      f"cat /proc/self/fd/{fd}/secret; cd /proc/self/fd/{fd} && cat secret; pwd")
            assert "host data" not in proc.stdout + proc.stderr
            if args:
                assert proc.returncode == 125  # the working directory does not exist inside
        # Not only the caller's descriptor: none that hardbox itself opened (PID 1's
        # namespaces, the state files, runc's leaked cgroup fd in the CVE) is a working
        # directory either; each -w below names a descriptor number and must not exist.
        for n in range(3, 12):
            proc = ex("exec", "-w", f"/proc/self/fd/{n}", st["id"], "sh", "-c", "pwd; ls")
            assert proc.returncode == 125 and proc.stdout == "", (n, proc.stdout, proc.stderr)
    finally:
        os.close(fd)


# `hardbox exec` with its host side stopped (SIGSTOP) in the moment after the joining
# process reported its pid and before it is told to go on: the joining process sits inside
# every namespace of the container holding whatever hardbox held (the caller's descriptors,
# hardbox's memory and environment). The hook wraps the first os.waitpid of the exec path.
PAUSED_EXEC = """
import os, signal, sys
real_waitpid = os.waitpid
def paused_waitpid(pid, options):
    os.waitpid = real_waitpid
    os.kill(os.getpid(), signal.SIGSTOP)
    return real_waitpid(pid, options)
os.waitpid = paused_waitpid
from hardbox.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

# PID 1 of the attacking container: container root with CAP_SYS_PTRACE in its namespace. It
# first proves the probe works on a process of its own (the control), then waits for the
# pids the test names and tries to reach each.
ATTACKER = ("sleep 600 & /probe/reach $! > /xchg/control 2>&1; "
            "while [ ! -e /xchg/go ]; do sleep 0.05; done; "
            "for p in $(cat /xchg/go); do echo \"== $p\"; /probe/reach $p; done > /xchg/reach 2>&1; "
            "touch /xchg/done; exec sleep 600")


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    return build_probes(tmp_path_factory.mktemp("exec-probes") / "bin")


def _wait_for(what: str, check: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "T"


def test_the_joining_process_is_out_of_reach_of_the_container(store, running, probes, tmp_path):
    """CVE-2016-9962's shape, made deterministic: while the exec process is inside the
    container holding a host directory descriptor and hardbox's environment, container root
    with CAP_SYS_PTRACE can neither ptrace it nor open its /proc fd, exe, cwd, root, environ
    or mem (it is non-dumpable, so only host root may), and hardbox's own process is not
    there to name. The same probe reaches a process of the container's own (the control)."""
    host_dir = tmp_path / "host-secret-dir"
    host_dir.mkdir()
    (host_dir / "secret").write_text("host data\n")
    xchg = tmp_path / "xchg"  # the test's messages to and from the attacker
    xchg.mkdir(mode=0o777)
    xchg.chmod(0o777)
    st = running("-u", "0", "--cap-add", "SYS_PTRACE", "-v", f"{probes}:/probe:ro", "-v", f"{xchg}:/xchg",
                 script=ATTACKER)
    control = _wait_for("the control probe", lambda: (xchg / "control").is_file()
                        and (xchg / "control").read_text())
    assert "ptrace ok" in control and "fd/1 ok" in control and "environ ok" in control, control

    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY)
    driver = subprocess.Popen([sys.executable, "-c", PAUSED_EXEC, "exec", st["id"], "true"],
                              env=store.env(EXEC_HOST_SECRET="hostleak"), pass_fds=(fd,),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("hardbox exec to stop before it lets the joining process go on",
                  lambda: _stopped(driver.pid))
        own_pidns = os.stat("/proc/self/ns/pid").st_ino

        def joining_process() -> int | None:
            for child in _children(driver.pid):
                if os.stat(f"/proc/{child}/ns/pid").st_ino != own_pidns:
                    return child
            return None

        joining = int(_wait_for("the joining process inside the container", joining_process))  # type: ignore[arg-type]
        # Host root sees what is at stake: the joining process holds the host directory.
        held = [os.readlink(f"/proc/{joining}/fd/{n}") for n in os.listdir(f"/proc/{joining}/fd")]
        assert str(host_dir) in held, held
        status = Path(f"/proc/{joining}/status").read_text()
        inner = next(line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:"))
        (xchg / "go.tmp").write_text(f"{inner} {driver.pid}\n")
        os.rename(xchg / "go.tmp", xchg / "go")
        _wait_for("the attacker's probes", lambda: (xchg / "done").exists())
        seen = (xchg / "reach").read_text()
    finally:
        os.kill(driver.pid, signal.SIGCONT)
        _, err = driver.communicate(timeout=60)
        os.close(fd)
    assert driver.returncode == 0, err

    sections = dict(part.split("\n", 1) for part in seen.split("== ")[1:])
    joined = sections[inner].splitlines()
    for what in ("ptrace", "fd-dir", "exe", "cwd", "root", "environ", "mem"):
        assert any(line.split()[:2] in ([what, "EPERM"], [what, "EACCES"]) for line in joined), (what, joined)
    assert not [line for line in joined if " ok" in line or "opened" in line or "lists" in line], joined
    # hardbox's own process is in no namespace the container can name.
    assert all(" ok" not in line for line in sections[str(driver.pid)].splitlines())
    assert str(host_dir) not in seen and "hostleak" not in seen and str(store.root) not in seen


def test_exec_cannot_see_or_signal_host_processes(store, running):
    st = running("-u", "0", "--cap-add", "SYS_PTRACE")
    proc = store.hardbox("exec", st["id"], "sh", "-c", "ls -d /proc/[0-9]*")
    pids = {int(p.rsplit("/", 1)[1]) for p in proc.stdout.split()}
    # Only the container's own pid namespace: PID 1, this shell, ls.
    assert 1 in pids and len(pids) <= 4, pids
    probe = store.hardbox("exec", st["id"], "sh", "-c", f"kill -0 {st['monitor_pid']} && echo reachable")
    assert "reachable" not in probe.stdout


def test_exec_with_t_gets_its_own_pty_and_session(store, running):
    st = running()
    master, slave = os.openpty()

    def on_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "hardbox", "exec", "-t", st["id"], "sh", "-c",
         "tty; echo pid=$$; ps -o pid,sid | grep \"^ *$$ \""],
        stdin=slave, stdout=slave, stderr=slave, env=store.env(), preexec_fn=on_tty,
    )
    code = proc.wait(timeout=60)
    out = drain(master, 0.3)
    os.close(master)
    os.close(slave)
    text = out.decode(errors="replace")
    assert code == 0, text
    assert "/dev/pts/" in text  # a pty of the container's devpts, not the caller's
    pid = text.split("pid=")[1].split()[0]
    # its own session: the session id is its own pid
    assert any(line.split() == [pid, pid] for line in text.splitlines()), text
