"""Starting a container: the one place where the order of the hardening steps lives.

Read ``Container.start`` and then ``_container_pid1`` top to bottom; each line is one step,
in the order the kernel needs it (compare crun's libcrun/linux.c):

hardbox (host root)            | child (forked)                | PID 1 (forked again)
-------------------------------|-------------------------------|------------------------------
state dir, cgroup, SELinux     |                               |
label, seccomp BPF (cached)    | join cgroup, unshare(user)    |
                               | -> "U"                        |
uid_map/gid_map,               |                               |
idmap layers, overlay -> "M"   | unshare(mnt pid uts ipc cgroup|
                               | net), attach root, clone      |
                               | volumes, setresuid(0), fork,  |
                               | report PID 1 -> "P", exit     |
reap child, prlimit, pasta     |                               | lo up, /proc /sys /dev /tmp,
uplink, egress rules, "G"      |                               | masks, pivot_root, volumes,
                               |                               | ro root, hostname, setsid,
                               |                               | user+env, close fds, nnp,
                               |                               | setuid, caps, pdeathsig,
                               |                               | workdir, SELinux, seccomp,
                               |                               | exec (or --init: fork+reap)
wait, forward signals, OOM,    |                               |
clean up                       |                               |

Fail closed: any step that raises stops the start; the error travels back over the
exec-status pipe (closed by a successful exec) and ``hardbox run`` exits 125/126/127.
Steps the profile marks ``if-available`` are skipped with a note in ``state.skipped``.
"""

from __future__ import annotations

import _signal  # the C module: signal.py's enums are ~1-2 ms of a run's start-up
import _socket  # the C socket type (forked.socketpair): socket.py is not loaded for a run
import os
import sys

from hardbox.errors import (
    CommandNotExecutable,
    CommandNotFound,
    ContainerError,
    HardboxError,
    naming_os_errors,
)
from hardbox.records import TYPE_CHECKING
from hardbox.runtime import (
    capabilities,
    forked,
    idmap,
    mounts,
    namespaces,
    network,
    process,
    syscalls,
)
from hardbox.runtime.cgroups import open_manager
from hardbox.runtime.cgroups.base import CgroupLimits, DevicesUnavailable
from hardbox.runtime.cgroups.devices import ALLOWED_DEVICES
from hardbox.runtime.digest import sha256_hex
from hardbox.runtime.init import exit_status, hide_host_process, run_as_init
from hardbox.runtime.request import Plan, RunRequest, error_for, make_plan
from hardbox.runtime.seccomp_install import install_filter
from hardbox.runtime.selinux import allocate_label, apply_exec_label, host_has_selinux
from hardbox.runtime.state import ContainerState, StateDir, StateStore, now, process_start_time
from hardbox.runtime.stdio import StdioRelay, relayed_fds

if TYPE_CHECKING:
    from hardbox.runtime.cgroups.base import Cgroup
    from hardbox.runtime.net.pasta import Uplink
    from hardbox.runtime.net.plan import NetworkPlan
    from hardbox.runtime.oom import OomWatch
    from hardbox.runtime.overlay import StrPath
    from hardbox.runtime.selinux import Label
    from hardbox.runtime.spec import ProfileSpec
    from hardbox.runtime.tty import Relay


class Container:
    """One container, from state dir to exit status (``start``, ``wait``, ``cleanup``)."""

    def __init__(self, request: RunRequest, store: StateStore) -> None:
        self.request = request
        self.store = store
        self.state_dir: StateDir | None = None
        self.pid = 0
        self.cgroup: Cgroup | None = None
        self.relay: Relay | None = None
        self.skipped: list[str] = list(request.skipped)
        self._file_label: str | None = None
        self._lifeline: _socket.socket | None = None
        self.stdio: StdioRelay | None = None
        self._oom: OomWatch | None = None
        self.netplan: NetworkPlan | None = None  # runtime/net: ports, resolvers, host gateway
        self.uplink: Uplink | None = None  # the pasta process of --network private
        self._egress_rules: dict[str, object] | None = None

    # ---- hardbox side ------------------------------------------------------------------
    def start(self, state_id: str) -> None:
        req, profile = self.request, self.request.profile
        self.state_dir = self.store.create(
            ContainerState(
                id=state_id, name=req.name, image=req.image.ref, image_id=req.image.id,
                profile=profile.name, command=list(req.argv()), created=now(),
                monitor_pid=os.getpid(), auto_remove=req.auto_remove,
                weakenings=list(profile.weakenings),
                layers=[str(p) for p in req.image.layers],
            )
        )
        try:
            self._start(state_id)
        except OSError as err:  # a kernel refusal on hardbox's side: crun-style message
            self.cleanup(remove_state=True)
            raise ContainerError(str(err)) from err
        except BaseException:
            self.cleanup(remove_state=True)
            raise

    def _start(self, state_id: str) -> None:
        req, profile = self.request, self.request.profile
        assert self.state_dir is not None
        base = self.state_dir.dir
        upper = os.path.join(base, "upper")
        for d in ("upper", "work", "rootfs"):
            os.mkdir(os.path.join(base, d), 0o700)
        ids = idmap.for_invoking_user() if profile.user_namespace else None
        idmap.check_store_shift(req.image.shift, ids)
        mounts.prepare_volumes(req.volumes, (ids.host_uid(0), ids.host_gid(0)) if ids else (0, 0),
                               can_idmap=ids is not None and not ids.rootless)
        _own_upper_like_image(upper, req.image.layers, ids)
        self.cgroup = self._create_cgroup(state_id)
        if self.cgroup is not None and profile.limits.memory is not None:
            from hardbox.runtime.oom import OomWatch  # only where a memory limit can kill

            self._oom = OomWatch(os.path.basename(self.cgroup.paths()[0]))
        label = self._selinux_label(state_id)
        self._file_label = label.file_label if label is not None else None
        ports = self._plan_network(state_id, base)
        plan = make_plan(self.request, state_id, base, label)
        self._egress_rules = _egress_rules(profile, base)  # built now: a bad one stops the start early
        # One save for everything decided before the fork (the ports, the cgroup `rm` must
        # find after a crash, what `exec` needs): nobody reads a state between these steps.
        self.state_dir.update(skipped=self.skipped, cgroup=_cgroup_path(self.cgroup), ports=ports,
                              **_exec_record(plan, base, self.cgroup))

        # Exec-status pipe: PID 1 writes "code\tmessage" on failure; exec closes it (CLOEXEC).
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        parent_sock, child_sock = forked.socketpair()
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
        cgroup_join = tuple(str(f) for f in self.cgroup.join_files()) if self.cgroup else ()
        _load_for_pid1(plan)
        # Without -t, the caller's files and terminal are not handed over (stdio.py).
        relayed = () if req.tty else relayed_fds(req.interactive)
        self.stdio = StdioRelay.create(relayed) if relayed else None
        child = os.fork()
        if child == 0:
            parent_sock.close()
            os.close(status_r)
            _child_main(plan, child_sock, status_w, ids, cgroup_join, self.stdio)
        child_sock.close()
        os.close(status_w)
        if self.stdio is not None:
            self.stdio.start()
        try:
            self._handshake(child, parent_sock, ids)
        except _ChildFailed:
            pass  # its reason is on the status pipe
        except BaseException:
            parent_sock.close()  # the child sees EOF and gives up
            os.close(status_r)
            _reap(child)
            raise
        # Kept open while we live: PID 1 reads EOF on it if hardbox died before PID 1 armed
        # its parent-death signal (see _container_pid1).
        self._lifeline = parent_sock
        if req.tty and self.pid:
            from hardbox.runtime import tty  # -t only

            master = tty.receive_master(parent_sock)
            self.relay = tty.Relay.attach(master) if master is not None else None
        failure = forked.read_all(status_r)
        os.close(status_r)
        if failure or not self.pid:
            if self.pid:
                _reap(self.pid)
            code, _, message = failure.decode(errors="replace").partition("\t")
            raise error_for(int(code) if code.isdigit() else 125,
                            message or "the container process exited during setup")
        self.state_dir.update(
            status="running", pid=self.pid, skipped=self.skipped, pid_start=process_start_time(self.pid) or 0,
            mounts=mounts.describe(plan.mount_template),
        )

    def _handshake(self, child: int, sock: _socket.socket, ids: idmap.IdMap | None) -> None:
        assert self.state_dir is not None
        base = self.state_dir.dir
        layers = tuple(reversed(self.request.image.layers))  # overlay wants the newest first
        if ids is not None:
            if sock.recv(1) != b"U":
                _fail_from_child(child)
            idmap.write_maps(child, ids)
        rootfs_fds: list[int] = []
        if ids is None or not ids.rootless:
            userns_fd = os.open(f"/proc/{child}/ns/user", os.O_RDONLY | os.O_CLOEXEC) if ids else None
            try:
                rootfs_fds.append(
                    mounts.build_rootfs(
                        layers, os.path.join(base, "upper"), os.path.join(base, "work"), userns_fd,
                        context=self._file_label,
                    )
                )
                # -v SRC:DST:idmap, idmapped here: only host root may (mounts.clone_volume).
                rootfs_fds += [mounts.clone_volume(v, userns_fd) for v in self.request.volumes if v.idmap]
            finally:
                if userns_fd is not None:
                    os.close(userns_fd)
        forked.send_fds(sock, b"M", rootfs_fds)
        for fd in rootfs_fds:
            os.close(fd)
        reply = sock.recv(32)
        if not reply.startswith(b"P"):
            _fail_from_child(child)
        self.pid = int(reply[1:])
        os.waitpid(child, 0)  # PID 1 is now our child (we are its subreaper)
        # rlimits are set from here: raising a hard limit needs CAP_SYS_RESOURCE in the
        # initial user namespace, which the container never has (prlimit(2)).
        self.skipped += process.set_rlimits(self.pid, self.request.profile.rlimits)
        if self.netplan is not None and self.netplan.uplink:
            from hardbox.runtime.net import pasta

            self.uplink = pasta.start(self.netplan, self.pid, base)
            self.state_dir.update(uplink_pid=self.uplink.pid, uplink_start=self.uplink.start)
        if self._egress_rules is not None:
            from hardbox.runtime import egress  # only runs with an egress policy load it

            # PID 1 waits for "G" below: the rules are in place before the image runs anything.
            egress.install(self.pid, self._egress_rules)
        sock.send(b"G")

    def _plan_network(self, state_id: str, base: str) -> list[str]:
        """The run's network (runtime/net): ports chosen, /etc/hosts, /etc/hostname and
        /etc/resolv.conf written into the state dir and added as read-only binds; the ports
        as the state records them."""
        from hardbox.runtime.net import etcfiles
        from hardbox.runtime.net.plan import make_network_plan, uplink_mode

        req = self.request
        mode, note = uplink_mode(req.profile.network, req.network)
        self.skipped += [note] if note else []
        self.netplan = make_network_plan(mode, req.network, req.image.exposed_ports,
                                         req.hostname or state_id[:12], profile_name=req.profile.name,
                                         egress=req.profile.egress)
        binds = etcfiles.write(base, self.netplan, req.volumes)
        self.request = req._replace(volumes=req.volumes + binds)
        return list(self.netplan.to_state())

    def _create_cgroup(self, state_id: str) -> Cgroup | None:
        """The container's cgroup: the profile's limits and, for every run as root, the
        device allow-list (cgroups/devices.py), so a root run always gets one.

        Fail closed on the device list, whatever ``limits.mode`` says, for root: the shipped
        profiles' ``if-available`` is there for hosts without cgroup delegation, which root
        never lacks, and without the list a device node that reaches the container (from an
        image, a volume, or mknod by a container root without a user namespace) opens as it
        would on the host. So a root run on a v1 host without the devices controller, or a v2
        host refusing the BPF program, is refused (exit 125). An unprivileged run cannot apply
        the list at all (devices.allow and BPF_PROG_LOAD need CAP_SYS_ADMIN in the initial
        user namespace) and needs it least: its mounts are made inside its user namespace,
        hence nodev, and it cannot mknod a device. There the run records a skip, under either
        limits mode.
        """

        limits = self.request.profile.limits
        devices = ALLOWED_DEVICES if os.geteuid() == 0 else None
        if devices is None:
            # Not a refusal even where limits.mode is required: that mode is about the
            # limits, and what the list guards against the kernel already rules out here.
            self.skipped.append("devices: an unprivileged run cannot apply a device allow-list (it needs "
                                "host CAP_SYS_ADMIN); its mounts are nodev and it cannot mknod")
        wanted = CgroupLimits(limits.memory, limits.pids, limits.cpus, devices)
        while wanted.has_limits or wanted.devices is not None:
            try:
                return open_manager().create(cgroup_name(state_id), wanted)
            except DevicesUnavailable as err:
                raise ContainerError(f"device allow-list: {err.message}", err.hint) from err
            except HardboxError as err:
                if limits.mode == "required":
                    raise ContainerError(f"cgroup limits are required by the profile: {err.message}") from err
                if not wanted.has_limits:  # no cgroup at all for the device list
                    raise ContainerError(f"device allow-list: {err.message}", DevicesUnavailable.default_hint) from err
                self.skipped.append(f"cgroup limits: {err.message}")
                wanted = CgroupLimits(devices=wanted.devices)  # the list needs no controller on v2
        return None

    def _selinux_label(self, state_id: str) -> Label | None:
        """A unique MCS label where the host has SELinux; else a recorded skip (or refusal)."""
        settings = self.request.profile.selinux
        if settings.mode == "disabled":
            return None

        if host_has_selinux():
            label = allocate_label(self.store.dir, state_id, settings.type, settings.file_type)
            if settings.level:
                label = label._replace(level=settings.level)
            return label
        if settings.mode == "required":
            raise ContainerError("selinux: required by the profile but unavailable on this host")
        self.skipped.append("selinux: unavailable on this host")
        return None

    def wait(self) -> int:
        """Wait for PID 1, forwarding signals; record and return the exit status."""
        assert self.state_dir is not None
        pid = self.pid

        def forward(signum: int, _frame: object) -> None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                return  # it exited meanwhile; waitpid below reaps it

        previous = {s: _signal.signal(s, forward) for s in _FORWARDED}
        try:
            if self.relay is not None:
                self.relay.pump(interactive=self.request.interactive)
            _, status = os.waitpid(pid, 0)
            if self.stdio is not None:
                self.stdio.finish()
        finally:
            for s, handler in previous.items():
                _signal.signal(s, handler)
            if self.relay is not None:
                self.relay.close()
        code = exit_status(status)
        oom = bool(self.cgroup is not None and self.cgroup.oom_killed())
        if oom:
            from hardbox.runtime.oom import report

            victims = self._oom.victims() if self._oom is not None else []
            line = report(victims, pid, code, self.request.profile.limits.memory)
            sys.stderr.write(f"hardbox: {line}\n")
        if not self.request.auto_remove:
            # With --rm the state dir is removed right after (cleanup): a rename over the
            # old state file costs an ext4 flush (auto_da_alloc) for a file nobody reads.
            self.state_dir.update(status="exited", exit_code=code, oom_killed=oom, finished=now())
        return code

    def cleanup(self, *, remove_state: bool) -> None:
        """Remove the cgroup and (with --rm or a failed start) the state dir."""
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        if self.stdio is not None:
            self.stdio.close()
            self.stdio = None
        if self._oom is not None:
            self._oom.close()
            self._oom = None
        if self.uplink is not None:
            from hardbox.runtime.net import pasta

            pasta.stop(self.uplink)  # normally gone already, with the container's pid namespace
            self.uplink = None
        if self.cgroup is not None:
            self.cgroup.destroy()
            self.cgroup = None
        if remove_state and self.state_dir is not None and os.path.exists(self.state_dir.dir):
            self.state_dir.remove()


# ---- the forked side -------------------------------------------------------------------


def _child_main(
    plan: Plan, sock: _socket.socket, status_w: int, ids: idmap.IdMap | None, cgroup_join: tuple[str, ...],
    stdio: StdioRelay | None,
) -> None:
    """The first child: joins the cgroup, enters the user namespace, then the rest, then
    forks PID 1."""
    try:
        if stdio is not None:
            stdio.in_child()
        # Itself, and first: still host root in the initial user namespace (the control
        # files are host root's), and before the cgroup namespace is made, so the
        # container's cgroup is the root it sees. Everything it forks inherits the cgroup.
        for path in cgroup_join:
            forked.write_control_file(path, b"0")
        if ids is not None:
            namespaces.unshare_user()
            sock.send(b"U")
        idmapped = sum(1 for v in plan.mount_template.volumes if v.idmap)
        _, fds = forked.recv_fds(sock, 1, 1 + idmapped)
        # Still host uid 0 here (the map makes it unmapped, not root): the only moment the
        # 0700 state dir and the volume sources can be reached. Namespaces first, then the
        # root attached, the volumes cloned, and only then become the container's root.
        namespaces.unshare_rest(plan.namespaces)
        if ids is not None and ids.rootless:
            # An unprivileged user cannot idmap the store's directories; the layers were
            # unpacked by that user and are mounted as they are, inside the user namespace.
            fds = [mounts.build_rootfs(plan.layers, plan.upper, plan.work, None, userxattr=True)]
        if not fds:
            raise ContainerError("the root filesystem was not handed over")
        mounts.attach_rootfs(fds[0], plan.mount_template.root)
        volume_fds = mounts.clone_volumes(plan.mount_template.volumes, fds[1:])
        if ids is not None:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        pid1 = os.fork()
        if pid1 == 0:
            _container_pid1(plan, fds[0], volume_fds, sock, status_w)
        sock.send(b"P%d" % pid1)
        os._exit(0)
    except BaseException as err:  # report every failure, never run the parent's code
        forked.report_and_exit(status_w, err)


def _container_pid1(
    plan: Plan,
    rootfs_fd: int,
    volume_fds: list[tuple[int, mounts.Volume]],
    sock: _socket.socket,
    status_w: int,
) -> None:
    """PID 1 of the new pid namespace: the hardening sequence, in order, then exec."""
    try:
        if sock.recv(1) != b"G":
            os._exit(125)  # hardbox went away before we were adopted
        # hardbox dies -> PID 1 dies (and with it the pid namespace), from before anything
        # of the image is read: a FIFO at /etc/passwd once hung this process with hardbox
        # killed and PID 1 orphaned. Every credential change resets it (kernel/cred.c,
        # commit_creds), so it is armed again after them.
        forked.arm_parent_death(sock)
        if plan.namespaces.network:
            network.bring_up_loopback()
        mounts.setup_container_mounts(plan.mount_template, rootfs_fd, volume_fds)
        syscalls.sethostname(plan.hostname)
        os.setsid()  # its own session: no controlling terminal of the caller (TIOCSTI)
        if plan.tty:
            from hardbox.runtime import tty

            tty.send_master(sock, tty.open_container_pty())
        elif not plan.interactive:
            _stdin_from_dev_null()  # as docker run without -i
        env = process.become(plan.user, plan.env, plan.extra_env, plan.hostname,
                              no_new_privs=plan.no_new_privs, keep_fds=(0, 1, 2, status_w, sock.fileno()))
        capabilities.apply(plan.capabilities, last=plan.last_cap,
                           inheritable=plan.capabilities_inheritable, ambient=plan.capabilities_ambient)
        forked.arm_parent_death(sock)
        sock.close()
        process.enter_workdir(plan.workdir)
        exe = process.find_executable(plan.argv[0], env.get("PATH", process.DEFAULT_PATH))
        if plan.selinux_label is not None:
            apply_exec_label(plan.selinux_label)  # takes effect at execve
        if plan.init:
            hide_host_process()  # the init stays, and must not show hardbox's argv and env
        if plan.seccomp_bpf is not None:
            install_filter(plan.seccomp_bpf)  # last: everything above may need filtered calls
        if plan.init:
            run_as_init(lambda: _exec(exe, plan.argv, env, status_w), close_in_init=(status_w,))
        _exec(exe, plan.argv, env, status_w)
    except BaseException as err:
        forked.report_and_exit(status_w, err)


def _load_for_pid1(plan: Plan) -> None:
    """Import what PID 1's optional steps use before forking: PID 1 runs them after
    pivot_root, where hardbox's own files are out of reach, and start-up imports only
    what a run needs, so nothing else has loaded them."""

    wanted = {"tty": plan.tty, "selinux": plan.selinux_label is not None, "seccomp_install": plan.seccomp_bpf is not None}
    for name, needed in wanted.items():
        if needed:
            __import__(f"hardbox.runtime.{name}")  # importlib itself is not loaded for a run




def _exec(exe: str, argv: tuple[str, ...], env: dict[str, str], status_w: int) -> None:
    try:
        os.execve(exe, list(argv), env)
    except OSError as err:
        cls = CommandNotFound if err.errno == 2 else CommandNotExecutable
        forked.report_and_exit(status_w, cls(f"exec {exe}: {err.strerror}"))






def _stdin_from_dev_null() -> None:
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)




def _fail_from_child(child: int) -> None:
    """The child stopped talking: its error is on the status pipe; reap it and stop."""
    _reap(child)
    raise _ChildFailed


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        return  # already reaped


class _ChildFailed(Exception):
    pass


# The signals hardbox passes on to PID 1 while it waits (as docker run's proxy does).
_FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)


def _own_upper_like_image(upper: str, layers: tuple[StrPath, ...], ids: idmap.IdMap | None) -> None:
    """The merged root directory takes the upper dir's owner and mode: make them those of
    the image's root directory (owner shifted into the container's range). Rootless, the
    invoking user already is container root and cannot chown; the mode is what matters."""
    st = os.stat(layers[-1]) if layers else None
    uid, gid, mode = (st.st_uid, st.st_gid, st.st_mode & 0o7777) if st else (0, 0, 0o755)
    if ids is not None and not ids.rootless:
        os.chown(upper, ids.host_uid(uid), ids.host_gid(gid))
    os.chmod(upper, mode)


def _exec_record(plan: Plan, base: str, cgroup: Cgroup | None) -> dict[str, object]:
    """What `hardbox exec` needs to give a new process this container's hardening
    (runtime/exec.py): state fields, and two 0600 files beside the state: the BPF PID 1
    installs (exec loads these bytes, checked against the recorded sha256) and the
    environment (kept out of state.json, which `ps --json` prints)."""
    env = list(plan.env)
    for item in plan.extra_env:  # `-e NAME` took NAME's value from hardbox's environment
        key, sep, _ = item.partition("=")
        if sep:
            env.append(item)
        elif key in os.environ:
            env.append(f"{key}={os.environ[key]}")
    _write_private(os.path.join(base, "process.env"), b"".join(e.encode(errors="surrogateescape") + b"\0" for e in env))
    digest = ""
    if plan.seccomp_bpf is not None:
        _write_private(os.path.join(base, "seccomp.bpf"), plan.seccomp_bpf)
        digest = sha256_hex(plan.seccomp_bpf)
    return {
        "process_user": plan.user, "process_workdir": plan.workdir, "hostname": plan.hostname,
        "capabilities": list(plan.capabilities), "no_new_privs": plan.no_new_privs,
        "capabilities_inheritable": list(plan.capabilities_inheritable),
        "capabilities_ambient": list(plan.capabilities_ambient),
        "selinux_label": str(plan.selinux_label) if plan.selinux_label is not None else "",
        "cgroup_join": [str(f) for f in cgroup.join_files()] if cgroup is not None else [],
        "seccomp": digest,
    }


def _write_private(path: str, data: bytes) -> None:
    with naming_os_errors("write", path, ContainerError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _egress_rules(profile: ProfileSpec, base: str) -> dict[str, object] | None:
    """The nftables ruleset of the profile's egress policy (runtime/egress.py), or None."""
    if profile.network != "private" or profile.egress is None or not profile.egress.restricts:
        return None  # the common case, decided without importing the egress module
    from pathlib import Path  # egress policies only

    from hardbox.runtime import egress

    # base/resolv.conf: the resolv.conf the container is given (runtime/net writes it there).
    return egress.rules_for_run(profile.egress, profile.network, resolv_conf=Path(base, "resolv.conf"))


def cgroup_name(state_id: str) -> str:
    """The name given to the cgroup manager (which makes the directory ``hardbox-<name>``)."""
    return state_id[:12]


def _cgroup_path(cgroup: Cgroup | None) -> str:
    return ",".join(str(p) for p in cgroup.paths()) if cgroup is not None else ""


