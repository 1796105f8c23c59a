"""A container's life around ``Container``: foreground, detached, stop, remove.

Foreground: hardbox starts the container, waits (forwarding signals), cleans up, and
returns the container's status. Detached (``-d``): hardbox forks a monitor in its own
session, which starts the container with stdout/stderr going to ``container.log``, tells
the caller the id (or the reason it failed) over a pipe, and stays to wait, record the exit
status and clean up, as conmon does for Podman. ``remove`` also cleans up after a hardbox
that was killed: the cgroup it left and the state dir (the mounts lived in the container's
own mount namespace and died with it; any stray one under the state dir is detached).
"""

from __future__ import annotations

import _signal  # the C module: a run's start-up loads no signal.py (bench/RESULTS.md)
import fcntl
import os
import sys
import time

from hardbox.errors import ContainerError, HardboxError, UsageError, naming_os_errors
from hardbox.fileio import unlink_missing_ok
from hardbox.root import root_dir
from hardbox.runtime import syscalls
from hardbox.runtime.cgroups import open_manager
from hardbox.runtime.cgroups.base import CgroupUnavailable
from hardbox.runtime.container import Container, cgroup_name
from hardbox.runtime.request import RunRequest, error_for
from hardbox.runtime.state import StateDir, StateStore, is_alive, new_id


def _print_skipped(container: Container) -> None:
    for note in container.skipped:
        sys.stderr.write(f"hardbox: skipped: {note}\n")


def run_foreground(request: RunRequest) -> int:
    container = Container(request, StateStore.default())
    container.start(new_id())
    _print_skipped(container)
    try:
        return container.wait()
    finally:
        container.cleanup(remove_state=request.auto_remove)


def run_detached(request: RunRequest) -> str:
    """Start in the background; return the id once the container runs (or raise why not)."""
    state_id = new_id()
    report_r, report_w = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(report_r)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        _monitor(request, state_id, report_w)
    os.close(report_w)
    os.waitpid(first, 0)
    with os.fdopen(report_r, "rb") as fh:
        reply = fh.read().decode(errors="replace")
    code, _, message = reply.partition("\t")
    if code != "0":
        raise error_for(int(code) if code.isdigit() else 125,
                        message or "the monitor exited before starting the container")
    for note in filter(None, message.split("\n")):
        sys.stderr.write(f"hardbox: skipped: {note}\n")
    return state_id


def _monitor(request: RunRequest, state_id: str, report_w: int) -> None:
    """The detached supervisor; never returns."""
    code = 125
    try:
        log = os.path.join(root_dir(), "containers", f"{state_id}.log.tmp")
        try:
            # A full disk here used to end the monitor silently ("the monitor exited before
            # starting the container"): the caller is told what could not be written.
            with naming_os_errors("create container log", log, ContainerError):
                os.makedirs(os.path.dirname(log), mode=0o700, exist_ok=True)
            # The flock is held while the monitor or the container (which inherits the log)
            # lives: a start that dies leaves an unlocked log.tmp, which the next start removes
            # (state.py). Made under the state lock, so that cleaner never sees it unlocked.
            with StateStore.default().locked():
                with naming_os_errors("create container log", log, ContainerError):
                    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except HardboxError as err:
            os.write(report_w, f"{err.exit_code}\t{err.message}".encode())
            os._exit(err.exit_code)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.close(null)
        container = Container(request, StateStore.default())
        try:
            container.start(state_id)
        except HardboxError as err:
            unlink_missing_ok(log)
            os.write(report_w, f"{err.exit_code}\t{err.message}".encode())
            os._exit(err.exit_code)
        except OSError as err:  # a full disk, say: the caller gets the reason, not silence
            unlink_missing_ok(log)
            os.write(report_w, f"125\t{err}".encode())
            os._exit(125)
        assert container.state_dir is not None
        final = os.path.join(container.state_dir.dir, "container.log")
        os.replace(log, final)
        container.state_dir.update(log=final)
        os.write(report_w, ("0\t" + "\n".join(container.skipped)).encode())
        os.close(report_w)
        code = container.wait()
        container.cleanup(remove_state=request.auto_remove)
    finally:
        os._exit(code)


def stop(key: str, timeout: float = 10.0) -> str:
    """SIGTERM, then SIGKILL after ``timeout`` seconds, as ``docker stop``."""
    d = StateStore.default().find(key)
    state = d.live_status()
    if state.status != "running":
        return state.id
    os.kill(state.pid, _signal.SIGTERM)
    if not _wait_gone(d, timeout):
        os.kill(state.pid, _signal.SIGKILL)
        _wait_gone(d, 5.0)
    _wait_monitor(d, 5.0)
    return state.id


def _wait_gone(d: StateDir, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    state = d.load()
    while time.monotonic() < deadline:
        if not is_alive(state):
            return True
        time.sleep(0.05)
    return not is_alive(state)


def _wait_monitor(d: StateDir, timeout: float) -> None:
    """Let the monitor record the exit status before we return."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.exists(d.dir):
        if d.load().status != "running":
            return
        time.sleep(0.05)


def remove(key: str, *, force: bool = False) -> str:
    d = StateStore.default().find(key)
    state = d.live_status()
    if state.status == "running":
        if not force:
            raise UsageError(f"container {state.id[:12]} is running", "stop it first, or use rm -f")
        os.kill(state.pid, _signal.SIGKILL)
        _wait_gone(d, 5.0)
        _wait_monitor(d, 5.0)
        if not os.path.exists(d.dir):
            return state.id  # it was --rm: its monitor removed it
    _detach_stray_mounts(d.dir)
    if state.uplink_pid:
        from hardbox.runtime.net.pasta import end_recorded

        # Normally gone with the container's pid namespace; a pasta that outlived it (it
        # never should) is ended here, by pid and start time.
        end_recorded(state.uplink_pid, state.uplink_start)

    try:
        manager = open_manager()
    except CgroupUnavailable:
        manager = None  # no hierarchy on this host: there is no cgroup to clean
    if manager is not None:
        # The paths the container recorded: this process may sit in other cgroups than the
        # hardbox that started it (another shell, a v2 supervisor leaf).
        recorded = [p for p in state.cgroup.split(",") if p]
        manager.open_recorded(cgroup_name(state.id), recorded).destroy()  # a no-op when already gone
    d.remove()
    return state.id


def _detach_stray_mounts(prefix: str) -> None:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh]
    for point in sorted((p for p in points if p.startswith(prefix + "/")), reverse=True):
        syscalls.umount2(point, syscalls.MNT_DETACH)
