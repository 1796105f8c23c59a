"""The uplink of ``--network private``: a pasta process on the container's network namespace.

pasta (Debian's ``passt``, Podman's default user-mode network) gives the namespace an
interface with the host's address and default route and carries its traffic through
ordinary host sockets: no bridge, no veth, no host firewall change, root or rootless alike.

Lifetime. pasta is started by a small forked helper that first joins the container's pid
namespace (and, rootless, its user namespace, which owns the other namespaces): pasta stays
in the host's network namespace but is a member of the container's pid namespace, so the
kernel kills it when the container's PID 1 ends (pid_namespaces(7)). A stopped container,
a crashed workload and a SIGKILLed hardbox (PID 1 dies with it: parent-death signal) all
end pasta, and with it the last reference to the network namespace, without anyone left
to clean up. The helper only waits for pasta, so the container's PID 1 never inherits it
as a child (a shell's ``wait`` would hang on it). Its pid and start time are recorded, and
``stop`` ends it by pid when it is still there.

The namespace is handed over as an inherited descriptor (``--netns /proc/self/fd/N``): pasta
drops privileges before it opens the path, and opening another process's /proc/PID/ns
files then fails the ptrace access check.
"""

from __future__ import annotations

import _signal  # the C module: signal.py's enums are ms of start-up (bench/RESULTS.md)
import os
import select
import time

from hardbox.errors import ContainerError
from hardbox.fileio import read_text
from hardbox.records import NamedTuple
from hardbox.runtime import process, syscalls
from hardbox.runtime.net.host import find_pasta
from hardbox.runtime.net.options import PublishedPort
from hardbox.runtime.net.plan import NetworkPlan
from hardbox.runtime.state import process_start_time

_NETNS_FD = 3  # where the helper puts the namespace descriptor for pasta
_READY_TIMEOUT = 15.0


class Uplink(NamedTuple):
    pid: int  # pasta's host pid
    start: int  # its start time (/proc/PID/stat field 22), so a recycled pid is never killed
    helper: int  # our child that waits for pasta


def port_spec(port: PublishedPort) -> str:
    """pasta's ``ADDRESS/PORT:TARGET`` (pasta(1), -t): bound to that host address only."""
    return f"{port.host_ip}/{port.host_port}:{port.container_port}"


def pasta_args(plan: NetworkPlan, pidfile: str | os.PathLike[str]) -> list[str]:
    """pasta's options for a plan (docs/networking.md says why each is there)."""
    # --no-map-gw: the gateway address stays the gateway's, not the host's loopback.
    args = ["-f", "-q", "--config-net", "-P", os.fspath(pidfile), "--runas", "0", "--no-map-gw"]
    for proto, flag in (("tcp", "-t"), ("udp", "-u")):
        specs = [port_spec(p) for p in plan.ports if p.proto == proto] or ["none"]
        for spec in specs:
            args += [flag, spec]
    for proto, flag in (("tcp", "-T"), ("udp", "-U")):
        # The container's 127.0.0.1:PORT spliced to the host's: only with host-gateway, and
        # only the ports allowed ("auto": every port the host's loopback listens on).
        # Without it "none": pasta's default would forward all of them.
        if not plan.host_gateway:
            specs = ["none"]
        elif plan.host_ports is None:
            specs = ["auto"]
        else:
            specs = [f"127.0.0.1/{port}" for port, pr in plan.host_ports if pr == proto] or ["none"]
        for spec in specs:
            args += [flag, spec]
    if plan.dns_forward:
        args += ["--dns-forward", plan.dns_forward]
    args += ["--no-netns-quit", "--netns", f"/proc/self/fd/{_NETNS_FD}"]
    return args


def start(plan: NetworkPlan, pid1: int, state_dir: str | os.PathLike[str]) -> Uplink:
    """Start pasta on PID 1's network namespace and wait until it has configured it."""
    binary = find_pasta()
    if binary is None:
        raise ContainerError("network private: the pasta command is not installed",
                             "install it (Debian: apt-get install passt), or run with --network none")
    # String paths, read with os: a private run loads no pathlib (bench/RESULTS.md).
    pidfile, log = os.path.join(state_dir, "pasta.pid"), os.path.join(state_dir, "pasta.log")
    argv = ["pasta", *pasta_args(plan, pidfile)]
    rootless = os.geteuid() != 0
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:
        os.close(report_r)
        _helper(binary, argv, pid1, log, report_w, rootless)
    os.close(report_w)
    with os.fdopen(report_r, "rb") as fh:
        reply = fh.read().decode(errors="replace")  # pasta's pid, or why it did not start
    if not reply.isdigit():
        _reap(helper)
        raise ContainerError(f"network private: cannot start pasta: {reply or 'the helper died'}")
    uplink = Uplink(int(reply), process_start_time(int(reply)) or 0, helper)
    try:
        _wait_ready(uplink, pidfile, log, plan)
    except BaseException:
        stop(uplink)
        raise
    return uplink


def _helper(binary: str, argv: list[str], pid1: int, log: str, report_w: int, rootless: bool) -> None:
    """The forked helper: join the namespaces, start pasta, wait for it; never returns."""
    code = 125
    try:
        os.setsid()  # the caller's terminal's ^C is for the container, not its uplink
        netns = os.open(f"/proc/{pid1}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # Nothing of hardbox's stays open here: a copy of the lifeline socket would keep
        # PID 1 from seeing hardbox die, a copy of a pipe end would hold up its reader.
        process.close_fds(keep=(0, 1, 2, report_w, netns, logfd))
        if rootless:  # the user namespace owns the pid namespace; we are its owner
            _setns(f"/proc/{pid1}/ns/user", syscalls.CLONE_NEWUSER)
        _setns(f"/proc/{pid1}/ns/pid", syscalls.CLONE_NEWPID)  # for our children: pasta
        pasta = os.fork()
        if pasta == 0:
            _exec_pasta(binary, argv, netns, logfd)
        os.write(report_w, str(pasta).encode())
        os.close(report_w)
        os.close(netns)
        _, status = os.waitpid(pasta, 0)
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
    except BaseException as err:  # the caller reads the reason from the pipe
        try:  # noqa: SIM105 - contextlib is not loaded for a run
            os.write(report_w, str(err).encode(errors="replace"))
        except OSError:
            pass
    finally:
        os._exit(code)


def _exec_pasta(binary: str, argv: list[str], netns: int, logfd: int) -> None:
    try:
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        os.dup2(netns, _NETNS_FD)  # dup2 leaves the copy inheritable
        os.closerange(_NETNS_FD + 1, 1 << 16)
        # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across
        # exec; pasta refuses to start with its signal handlers not installable.
        for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
            _signal.signal(sig, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
        os.execv(binary, argv)
    finally:
        os._exit(127)


def _setns(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, nstype)
    finally:
        os.close(fd)


def _wait_ready(uplink: Uplink, pidfile: str, log: str, plan: NetworkPlan) -> None:
    """pasta writes its pid file once the namespace is configured and the ports are bound
    (in the foreground, after setup); it exits with a message when it cannot."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if read_text(pidfile).strip():
                return
        except OSError:
            pass
        done, _ = os.waitpid(uplink.helper, os.WNOHANG)
        if done:
            raise _failure(log, plan)
        select.select([], [], [], 0.005)
    raise ContainerError(f"network private: pasta did not configure the network within {_READY_TIMEOUT:.0f} s",
                         f"see {log}")


def _failure(log: str, plan: NetworkPlan) -> ContainerError:
    try:
        lines = [line for line in read_text(log, errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    message = lines[-1].strip() if lines else "pasta exited"
    for port in plan.ports:  # "Failed to bind any port for '-t 127.0.0.1/8080:80', exiting"
        if port_spec(port) in message and "bind" in message:
            return ContainerError(f"port {port.host_ip}:{port.host_port}/{port.proto} is already in use "
                                  f"(another container or program holds it): cannot publish {port}",
                                  "choose another host port, or stop what holds it")
    return ContainerError(f"network private: pasta failed: {message}")


def stop(uplink: Uplink) -> None:
    """End pasta (normally already gone with the pid namespace) and reap the helper."""
    end_recorded(uplink.pid, uplink.start)
    _reap(uplink.helper)


def end_recorded(pid: int, start: int) -> None:
    """End a recorded pasta if that very process still runs (its start time matches)."""
    if pid <= 0 or start <= 0 or process_start_time(pid) != start:
        return
    try:  # noqa: SIM105 - contextlib is not loaded for a run
        os.kill(pid, _signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and process_start_time(pid) == start:
        time.sleep(0.01)
    if process_start_time(pid) == start:
        try:  # noqa: SIM105 - contextlib is not loaded for a run
            os.kill(pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    try:  # noqa: SIM105 - contextlib is not loaded for a run
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
