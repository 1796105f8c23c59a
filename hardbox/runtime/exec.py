"""``hardbox exec``: one more process in a running container, hardened exactly as it is.

Read ``exec_in`` and then ``_exec_process`` top to bottom, as ``container.py``:

hardbox (host root)             | child (forked)                | exec'd process (forked again)
--------------------------------|-------------------------------|------------------------------
state: running? namespaces of   |                               |
PID 1 opened, PID 1 re-checked, | non-dumpable, rlimits of      |
its rlimits read, the recorded  | PID 1, join cgroup, setns     |
seccomp BPF loaded and checked  | user (first), then mnt pid    |
                                | uts ipc net cgroup, setresuid |
                                | (0), fork, report pid -> "P"  |
reap child, "G"                 |                               | parent death armed, setsid,
                                |                               | pty or /dev/null, close fds,
                                |                               | user + env, nnp, setuid, caps,
                                |                               | workdir, SELinux, seccomp,
                                |                               | exec
wait, forward signals           |                               |

It gets the container's own hardening and never more: the capabilities, no_new_privs,
SELinux label and seccomp filter that PID 1 got, recorded in its state when it started
(state.py; the BPF bytes beside it as ``seccomp.bpf``, checked against the recorded
sha256), and the rlimits PID 1 has now (which it can only have lowered).

Nothing of the host reaches it. The shapes of runc's two exec escapes:

* CVE-2016-9962: runc's exec process entered the container holding host descriptors
  while still dumpable, so container root could ptrace it and take them. Here the child
  makes itself non-dumpable before its first setns, and again after every uid change
  (which resets it to fs.suid_dumpable); the exec'd process inherits that until its own
  execve, so only host root may ptrace or read its /proc entries (ptrace_may_access checks
  CAP_SYS_PTRACE in the user namespace of its mm, the host's).
* CVE-2024-21626: a host directory descriptor leaked into the exec'd process and
  usable as its cwd (``-w /proc/self/fd/7``). Here every descriptor but 0-2 is closed
  before the working directory is entered, and it is entered by path, inside the root
  that setns(mnt) gave (setns(2): the root and cwd become the namespace's root).

The environment is the container's (image Env and ``run -e``, kept in a 0600 file of the
state dir and not in state.json, which ``ps --json`` prints) plus ``exec -e``; nothing of
hardbox's own. ``/proc/self/exe`` is the container's program: the process execs it.
"""

from __future__ import annotations

import _signal  # the C module: exec loads no signal.py (its enums), nor contextlib or importlib
import _socket
import os
import resource

from hardbox.errors import CommandNotExecutable, CommandNotFound, ContainerError
from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime import capabilities, forked, process, syscalls
from hardbox.runtime.digest import sha256_hex
from hardbox.runtime.init import exit_status
from hardbox.runtime.state import ContainerState, StateDir, StateStore, process_start_time
from hardbox.runtime.stdio import StdioRelay, relayed_fds

if TYPE_CHECKING:
    from hardbox.runtime.tty import Relay

# In the order they are joined: the user namespace first, so that every other one (owned
# by it) is joined with the capabilities it grants (user_namespaces(7)); pid only applies
# to the children, hence the second fork.
NAMESPACES = (
    ("user", syscalls.CLONE_NEWUSER),
    ("mnt", syscalls.CLONE_NEWNS),
    ("pid", syscalls.CLONE_NEWPID),
    ("uts", syscalls.CLONE_NEWUTS),
    ("ipc", syscalls.CLONE_NEWIPC),
    ("net", syscalls.CLONE_NEWNET),
    ("cgroup", syscalls.CLONE_NEWCGROUP),
)
ENV_FILE = "process.env"
SECCOMP_FILE = "seccomp.bpf"
_RLIMITS = tuple(getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_"))


# Records of the exec path are NamedTuples, not dataclasses: `dataclasses` (and the
# `inspect` it imports) is a fifth of `hardbox exec`'s start-up (bench/RESULTS.md).
class ExecRequest(NamedTuple):
    """What ``hardbox exec`` asks for."""

    container: str
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str | None = None
    workdir: str | None = None
    tty: bool = False
    interactive: bool = False


class ExecPlan(NamedTuple):
    """Everything the forked side needs, read and checked in hardbox before the fork."""

    pid1: int
    namespaces: tuple[tuple[int, int], ...]  # (open /proc/PID/ns fd, CLONE_NEW*), joining order
    join_user: bool
    cgroup_join: tuple[str, ...]
    rlimits: tuple[tuple[int, int, int], ...]
    argv: tuple[str, ...]
    env: tuple[str, ...]
    extra_env: tuple[str, ...]
    user: str
    workdir: str
    hostname: str
    capabilities: tuple[str, ...]
    capabilities_inheritable: tuple[str, ...]
    capabilities_ambient: tuple[str, ...]
    no_new_privs: bool
    seccomp_bpf: bytes | None
    selinux_label: str
    tty: bool
    interactive: bool
    last_cap: int


def exec_in(request: ExecRequest, store: StateStore | None = None) -> int:
    """Run ``request.argv`` in the container; its exit status (128+N for signal N)."""
    state_dir = (store or StateStore.default()).find(request.container)
    plan = _make_plan(request, state_dir)
    try:
        return _run(plan)
    finally:
        for fd, _ in plan.namespaces:
            os.close(fd)


def _make_plan(request: ExecRequest, state_dir: StateDir) -> ExecPlan:
    state = state_dir.live_status()
    if state.status != "running":
        hint = "remove it with `hardbox rm`" if state.status == "stale" else "start a new one with `hardbox run`"
        raise ContainerError(f"container {state.id[:12]} is not running ({state.status})", hint)
    if state.seccomp is None:
        raise ContainerError(f"container {state.id[:12]} has no exec record (started by an older hardbox)",
                             "restart it to exec into it")
    namespaces = _open_namespaces(state.pid)
    try:
        # Opened first, checked after: a pid reused in between has another start time.
        if process_start_time(state.pid) != state.pid_start:
            raise ContainerError(f"container {state.id[:12]} is not running (its PID 1 is gone)",
                                 "remove it with `hardbox rm`")
        return ExecPlan(
            pid1=state.pid,
            namespaces=namespaces,
            join_user=any(flag == syscalls.CLONE_NEWUSER for _, flag in namespaces),
            cgroup_join=tuple(state.cgroup_join),
            rlimits=tuple((r, *resource.prlimit(state.pid, r)) for r in _RLIMITS),
            argv=request.argv,
            env=_read_env(state_dir),
            extra_env=request.env,
            user=request.user if request.user is not None else state.process_user,
            workdir=request.workdir or state.process_workdir or "/",
            hostname=state.hostname,
            capabilities=tuple(state.capabilities),
            capabilities_inheritable=tuple(state.capabilities_inheritable),
            capabilities_ambient=tuple(state.capabilities_ambient),
            no_new_privs=state.no_new_privs,
            seccomp_bpf=_read_seccomp(state_dir, state),
            selinux_label=state.selinux_label,
            tty=request.tty,
            interactive=request.interactive,
            last_cap=capabilities.last_cap(),
        )
    except BaseException:
        for fd, _ in namespaces:
            os.close(fd)
        raise


def _open_namespaces(pid: int) -> tuple[tuple[int, int], ...]:
    """PID 1's namespaces that differ from ours (``--network host`` shares the host's)."""
    opened: list[tuple[int, int]] = []
    try:
        for name, flag in NAMESPACES:
            fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            opened.append((fd, flag))
            own = os.stat(f"/proc/self/ns/{name}")
            theirs = os.fstat(fd)
            if (own.st_dev, own.st_ino) == (theirs.st_dev, theirs.st_ino):
                os.close(opened.pop()[0])
    except OSError as err:
        for fd, _ in opened:
            os.close(fd)
        raise ContainerError(f"open the namespaces of pid {pid}: {err.strerror}",
                             "is the container still running? (`hardbox ps`)") from err
    return tuple(opened)


def _read_beside_state(state_dir: StateDir, name: str, what: str = "") -> tuple[str, bytes]:
    """A file the run wrote beside the container's state (its path and bytes), or one line."""
    path = os.path.join(state_dir.dir, name)
    try:
        with open(path, "rb") as fh:
            return path, fh.read()
    except OSError as err:
        raise ContainerError(f"read {what}`{path}`: {err.strerror}") from err


def _read_env(state_dir: StateDir) -> tuple[str, ...]:
    _, data = _read_beside_state(state_dir, ENV_FILE)
    return tuple(item.decode("utf-8", errors="surrogateescape") for item in data.split(b"\0") if item)


def _read_seccomp(state_dir: StateDir, state: ContainerState) -> bytes | None:
    """The filter PID 1 installed, byte for byte; a file that changed since is refused."""
    if not state.seccomp:
        return None
    path, bpf = _read_beside_state(state_dir, SECCOMP_FILE, "the container's seccomp filter ")
    if sha256_hex(bpf) != state.seccomp:
        raise ContainerError(f"the container's seccomp filter `{path}` does not match its recorded sha256")
    return bpf


def _run(plan: ExecPlan) -> int:
    """Fork, hand over, wait: the hardbox side."""
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    # The C socket type: socket.py's enums and selectors were ~3 ms of exec's start-up, and
    # the handshake needs only send, recv and (for -t) sendmsg/recvmsg, which it has.
    parent_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)  # the exec'd process becomes ours
    _load_for_exec(plan)
    relayed = () if plan.tty else relayed_fds(plan.interactive)
    stdio = StdioRelay.create(relayed) if relayed else None
    child = os.fork()
    if child == 0:
        parent_sock.close()
        os.close(status_r)
        _child_main(plan, child_sock, status_w, stdio)
    child_sock.close()
    os.close(status_w)
    relay: Relay | None = None
    try:
        if stdio is not None:
            stdio.start()
        reply = parent_sock.recv(32)
        pid = int(reply[1:]) if reply.startswith(b"P") else 0
        _reap(child)
        if pid:
            parent_sock.send(b"G")
            if plan.tty:
                from hardbox.runtime import tty

                master = tty.receive_master(parent_sock)
                relay = tty.Relay.attach(master) if master is not None else None
        failure = forked.read_all(status_r)
        if failure or not pid:
            if pid:
                _reap(pid)
            code, _, message = failure.decode(errors="replace").partition("\t")
            cls = {126: CommandNotExecutable, 127: CommandNotFound}.get(int(code) if code.isdigit() else 125,
                                                                         ContainerError)
            raise cls(message or "the exec process exited during setup")
        return _wait(pid, relay, stdio, plan.interactive)
    finally:
        os.close(status_r)
        parent_sock.close()  # the lifeline: the exec'd process dies with us
        if relay is not None:
            relay.close()
        if stdio is not None:
            stdio.close()


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        return  # already reaped


def _wait(pid: int, relay: Relay | None, stdio: StdioRelay | None, interactive: bool) -> int:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return  # it exited meanwhile; waitpid below reaps it

    previous = {s: _signal.signal(s, forward) for s in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP,
                                                         _signal.SIGQUIT)}
    try:
        if relay is not None:
            relay.pump(interactive=interactive)
        _, status = os.waitpid(pid, 0)
        if stdio is not None:
            stdio.finish()
    finally:
        for s, handler in previous.items():
            _signal.signal(s, handler)
    return exit_status(status)


# ---- the forked side -------------------------------------------------------------------


def _child_main(plan: ExecPlan, sock: _socket.socket, status_w: int, stdio: StdioRelay | None) -> None:
    """The first child: still host root, it takes PID 1's limits and cgroup, then enters
    the namespaces (user first) and forks the process that will exec."""
    try:
        # Before anything of the container can see us: only host root may ptrace or open
        # /proc/PID/fd of a non-dumpable process (CVE-2016-9962). Inherited across fork.
        _non_dumpable()
        if stdio is not None:
            stdio.in_child()
        _set_rlimits(plan.rlimits)
        for path in plan.cgroup_join:  # host root's files: before the user namespace
            forked.write_control_file(path, b"0")
        for fd, flag in plan.namespaces:
            syscalls.setns(fd, flag)
            os.close(fd)
        if plan.join_user:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            _non_dumpable()  # a uid change resets it (below)
        pid = os.fork()
        if pid == 0:
            _exec_process(plan, sock, status_w)
        sock.send(b"P%d" % pid)
        os._exit(0)
    except BaseException as err:
        forked.report_and_exit(status_w, err)


def _exec_process(plan: ExecPlan, sock: _socket.socket, status_w: int) -> None:
    """Inside every namespace of the container: the hardening PID 1 got, in its order."""
    try:
        if sock.recv(1) != b"G":
            os._exit(125)  # hardbox went away before adopting us
        forked.arm_parent_death(sock)
        os.chdir("/")  # the container's root (setns(mnt) set both root and cwd to it)
        os.setsid()  # its own session: no controlling terminal of the caller (TIOCSTI)
        if plan.tty:
            from hardbox.runtime import tty

            tty.send_master(sock, tty.open_container_pty())
        elif not plan.interactive:
            fd = os.open("/dev/null", os.O_RDONLY)  # the container's /dev/null
            os.dup2(fd, 0)
            os.close(fd)
        env = process.become(plan.user, plan.env, plan.extra_env, plan.hostname,
                              no_new_privs=plan.no_new_privs, keep_fds=(0, 1, 2, status_w, sock.fileno()))
        _non_dumpable()  # the uid change reset it; it holds until execve
        # Inheritable and ambient as PID 1 got them: empty unless the profile names
        # capabilities for them; root's come from the bounding set at execve (capabilities.py).
        capabilities.apply(plan.capabilities, last=plan.last_cap,
                           inheritable=plan.capabilities_inheritable, ambient=plan.capabilities_ambient)
        forked.arm_parent_death(sock)  # every credential change resets it
        sock.close()
        process.enter_workdir(plan.workdir)
        exe = process.find_executable(plan.argv[0], env.get("PATH", process.DEFAULT_PATH))
        if plan.selinux_label:
            from hardbox.runtime.selinux import apply_exec_label

            apply_exec_label(plan.selinux_label)
        if plan.seccomp_bpf is not None:
            from hardbox.runtime.seccomp_install import install_filter

            install_filter(plan.seccomp_bpf)  # last, as for PID 1
        try:
            os.execve(exe, list(plan.argv), env)
        except OSError as err:
            cls = CommandNotFound if err.errno == 2 else CommandNotExecutable
            raise cls(f"exec {exe}: {err.strerror}") from err
    except BaseException as err:
        forked.report_and_exit(status_w, err)


def _non_dumpable() -> None:
    """PR_SET_DUMPABLE 0: ptrace, /proc/PID/fd, exe, environ and mem of this process are
    host root's alone (ptrace_may_access needs CAP_SYS_PTRACE in the user namespace of its
    mm, which hardbox created on the host). Every change of uid or gid sets dumpability
    back to fs.suid_dumpable (commit_creds), which is 1 ("debug") on some hosts, so this is
    repeated after each one until execve hands the process to the container's program."""
    syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)


def _load_for_exec(plan: ExecPlan) -> None:
    """Import what the forked side uses before forking: past setns(mnt) hardbox's files
    are out of reach."""
    wanted = {"tty": plan.tty, "selinux": bool(plan.selinux_label), "seccomp_install": plan.seccomp_bpf is not None}
    for name, needed in wanted.items():
        if needed:
            __import__(f"hardbox.runtime.{name}")


def _set_rlimits(rlimits: tuple[tuple[int, int, int], ...]) -> None:
    """PID 1's limits; where ours are lower and cannot be raised, ours (tighter, never looser)."""
    for which, soft, hard in rlimits:
        try:
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError):
            _, own_hard = resource.getrlimit(which)
            new_hard = min(hard, own_hard, key=_rlim_order)
            resource.setrlimit(which, (min(soft, new_hard, key=_rlim_order), new_hard))


def _rlim_order(value: int) -> float:
    return float("inf") if value == resource.RLIM_INFINITY else value







