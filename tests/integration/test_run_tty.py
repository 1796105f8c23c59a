"""TIOCSTI: a container must not push keystrokes into the terminal of whoever started it.

The test gives hardbox a real pseudo-terminal as its controlling terminal (the "caller's
terminal"), runs a static probe that calls ioctl(0, TIOCSTI) inside the container, then
reads the caller's terminal: any injected byte would be waiting there as input.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import termios

import pytest
from helpers.hbrun import RunStore, build_probes, make_store
from helpers.terminal import drain

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-tty") / "store", busybox_layout.ref)


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    base = tmp_path_factory.mktemp("probes")
    os.chmod(base, 0o755)
    return build_probes(base / "bin")


def _legacy_tiocsti_enabled() -> bool:
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti") as fh:
            return fh.read().strip() == "1"
    except FileNotFoundError:
        return True  # kernels before 6.2 always allow it


def run_on_terminal(store: RunStore, *args: str) -> tuple[int, str, bytes]:
    """Run hardbox with a fresh pty as its controlling terminal; return its status, its
    output, and whatever input is left queued on that terminal afterwards."""
    master, slave = os.openpty()

    def become_session_leader_on_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "hardbox", "run", "--rm", *args],
        stdin=slave, stdout=slave, stderr=slave, env=store.env(),
        preexec_fn=become_session_leader_on_tty,
    )
    code = proc.wait(timeout=60)
    out = drain(master)
    # Anything injected sits in the slave's input queue; read it without blocking.
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ICANON
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(slave, False)
    try:
        queued = os.read(slave, 65536)
    except BlockingIOError:
        queued = b""
    os.close(master)
    os.close(slave)
    return code, out.decode(errors="replace"), queued


def test_probe_can_inject_without_hardbox(probes):
    """Control: the same probe on the caller's own terminal does inject (so the test can fail)."""
    if not _legacy_tiocsti_enabled():
        pytest.skip("dev.tty.legacy_tiocsti=0: this kernel refuses TIOCSTI to everyone")
    master, slave = os.openpty()
    proc = subprocess.run(
        [str(probes / "tiocsti")], stdin=slave, stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: (os.setsid(), fcntl.ioctl(0, termios.TIOCSCTTY, 0)),
    )
    os.close(slave)
    assert proc.stdout.strip() == "TIOCSTI: injected"
    os.close(master)


@pytest.mark.parametrize("tty", [["-i"], ["-t"]], ids=["own-session", "new-pty"])
def test_tiocsti_cannot_reach_the_callers_terminal(store, probes, tty):
    code, out, queued = run_on_terminal(
        store, *tty, "--profile", "default", "-v", f"{probes}:/probe:ro", "bbtest", "/probe/tiocsti"
    )
    assert code == 0, out
    assert b"INJECTED" not in queued and b"echo" not in queued
    if tty == ["-t"]:
        # With -t the probe pushes into its own new pty, never into the caller's.
        assert "TIOCSTI:" in out
    else:
        # With -i but no -t, fd 0 is a pipe hardbox copies the caller's terminal into
        # (runtime/stdio.py): the container has no terminal to push into at all.
        assert "TIOCSTI: Inappropriate ioctl for device" in out
