"""The container process: exit status, Docker's error codes, env, fds, user, workdir."""

from __future__ import annotations

import os

import pytest
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-process") / "store", busybox_layout.ref)


def run(store: RunStore, *args: str, **kw: object):  # type: ignore[no-untyped-def]
    return store.hardbox("run", "--rm", *args, **kw)


def test_exit_status_passes_through(store):
    assert run(store, "bbtest", "sh", "-c", "exit 3").returncode == 3
    # A container's own 2 is passed through: hardbox's usage errors are 125, never 2.
    assert run(store, "bbtest", "sh", "-c", "exit 2").returncode == 2


def test_killed_by_signal_is_128_plus_n(store):
    # PID 1 cannot SIGKILL itself (the kernel protects a namespace's init), so a child does.
    proc = run(store, "bbtest", "sh", "-c", 'sh -c "kill -9 \\$\\$"; exit $?')
    assert proc.returncode == 137


def test_command_not_found_is_127_and_not_executable_is_126(store):
    missing = run(store, "bbtest", "no-such-command")
    assert missing.returncode == 127
    assert "no-such-command: executable file not found in $PATH" in missing.stderr
    not_exec = run(store, "bbtest", "/etc/passwd")
    assert not_exec.returncode == 126
    assert "permission denied" in not_exec.stderr


def test_start_failure_is_125_and_leaves_nothing(store):
    before = store.containers()
    proc = run(store, "-u", "ghost", "bbtest", "true")
    assert proc.returncode == 125
    assert "unable to find user ghost" in proc.stderr
    assert store.containers() == before


def test_host_environment_is_not_leaked(store):
    env = store.env(HOST_SECRET="s3cr3t", PASSED="by-name")
    proc = run(store, "-e", "FOO=bar", "-e", "PASSED", "--hostname", "box", "bbtest", "env", env=env)
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert "HOST_SECRET" not in got
    assert got["FOO"] == "bar" and got["PASSED"] == "by-name"
    assert got["HOSTNAME"] == "box" and got["HOME"] == "/home/user"
    assert set(got) == {"FOO", "PASSED", "HOSTNAME", "HOME", "PATH"}


def test_inherited_descriptors_are_closed(store):
    fd = os.open("/dev/null", os.O_RDONLY)  # no O_CLOEXEC once made inheritable
    os.set_inheritable(fd, True)
    try:
        proc = run(store, "bbtest", "ls", "/proc/self/fd", pass_fds=(fd,))
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    # 0-2 and the directory ls itself is reading
    assert sorted(int(x) for x in proc.stdout.split()) == [0, 1, 2, 3]


def test_user_from_image_and_option(store):
    assert run(store, "bbtest", "id").stdout.strip() == "uid=1000(user) gid=1000(user)"
    assert run(store, "-u", "root", "bbtest", "id", "-u").stdout.strip() == "0"
    assert run(store, "-u", "4242:4243", "bbtest", "id").stdout.strip() == "uid=4242 gid=4243"


def test_workdir_and_hostname(store):
    proc = run(store, "-w", "/home/user", "--hostname", "hb", "bbtest", "sh", "-c", "pwd; hostname")
    assert proc.stdout.split() == ["/home/user", "hb"]


@pytest.mark.slow
def test_workdir_cannot_escape_the_root(store):
    """CVE-2024-21626: a working directory through a leaked host fd or dot-dots stays inside."""
    dots = run(store, "-w", "/../../../../..", "bbtest", "sh", "-c", "pwd; ls /")
    assert dots.returncode == 0
    assert dots.stdout.split()[0] == "/" and "busybox" not in dots.stdout.split()[1:]
    assert "home" in dots.stdout.split()
    for n in (3, 7, 8):  # runc leaked its cgroup fd as 7 or 8
        leaked = run(store, "-w", f"/proc/self/fd/{n}", "bbtest", "pwd")
        assert leaked.returncode == 125, (n, leaked.stdout)
        assert "chdir to" in leaked.stderr


def test_volumes_read_only_under_strict_and_rw_when_asked(store, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(src, 0o777)
    (src / "in").write_text("from host\n")
    ro = run(store, "--profile", "strict", "-v", f"{src}:/data", "bbtest", "sh", "-c", "cat /data/in; touch /data/out")
    assert "from host" in ro.stdout
    assert ro.returncode == 1 and "Read-only file system" in ro.stderr
    rw = run(store, "--profile", "strict", "-v", f"{src}:/data:rw", "bbtest", "sh", "-c", "echo hi > /data/out")
    assert rw.returncode == 0, rw.stderr
    assert (src / "out").read_text() == "hi\n"
    assert (src / "out").stat().st_uid == 101000  # container uid 1000, shifted on the host


def test_volume_destination_symlink_stays_inside(store, tmp_path):
    """A destination through /proc/self/root or dot-dots is resolved inside the container."""
    src = tmp_path / "v"
    src.mkdir()
    os.chmod(tmp_path, 0o755)
    (src / "marker").write_text("m")
    proc = run(store, "-v", f"{src}:/../../tmp/vol", "bbtest", "cat", "/tmp/vol/marker")
    assert proc.returncode == 0 and proc.stdout == "m", proc.stderr


@pytest.mark.slow
def test_entrypoint_and_double_dash(store):
    assert run(store, "bbtest", "--", "echo", "a", "--", "b").stdout == "a -- b\n"
    assert run(store, "--entrypoint", "echo", "bbtest", "x").stdout == "x\n"
    # The image's Cmd (/bin/sh) runs when no command is given; stdin is /dev/null without -i.
    assert run(store, "bbtest").returncode == 0
    assert run(store, "-i", "bbtest", input="echo from-stdin\n").stdout == "from-stdin\n"


@pytest.mark.slow
def test_image_symlink_mount_points_are_refused(store, tmp_path):
    """An image whose /proc is a symlink out of the root must not get mounts placed through
    it (they would be resolved from the host's root before the pivot): the run is refused."""
    import shutil

    from helpers import imagebuild

    evil = imagebuild.busybox_image(tmp_path / "evil", tag="evil")

    def make_proc_a_link(rootfs):  # type: ignore[no-untyped-def]
        shutil.rmtree(rootfs / "proc")
        (rootfs / "proc").symlink_to("../../../../../../tmp")

    evil.add_layer(make_proc_a_link, "RUN ln -s ../../../tmp /proc")
    imported = store.hardbox("image", "import", evil.ref, "--tag", "evil")
    assert imported.returncode == 0, imported.stderr
    proc = run(store, "evil", "true")
    assert proc.returncode == 125
    assert "mount point is a symlink in the image: `/proc`" in proc.stderr
