"""The container process: users from the image's files, a clean env, fds, exec errors."""

from __future__ import annotations

import os

import pytest

from hardbox.errors import CommandNotExecutable, CommandNotFound, ContainerError, UsageError
from hardbox.runtime import process


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "app:x:1001:1001::/srv/app:/bin/false\n"
    )
    (tmp_path / "group").write_text("root:x:0:\nuser:x:1000:\napp:x:1001:\nwheel:x:10:user,app\n")
    return str(tmp_path)


def test_resolve_user_by_name_uid_and_group(etc):
    assert process.resolve_user("user", etc) == process.User(1000, 1000, (10,), "/home/user")
    assert process.resolve_user("1001", etc).home == "/srv/app"
    assert process.resolve_user("user:app", etc).gid == 1001
    assert process.resolve_user("0:10", etc) == process.User(0, 10, (), "/root")
    assert process.resolve_user("", etc).uid == 0


def test_numeric_user_absent_from_passwd_is_allowed(etc):
    assert process.resolve_user("4242:4243", etc) == process.User(4242, 4243, (), "/")


@pytest.mark.parametrize(("spec", "message"), [("ghost", "unable to find user ghost"), ("user:ghosts", "unable to find group ghosts")])
def test_unknown_names_fail(etc, spec, message):
    with pytest.raises(ContainerError, match=message):
        process.resolve_user(spec, etc)


def test_env_is_image_env_plus_options_only(monkeypatch):
    monkeypatch.setenv("HOST_SECRET", "s3cr3t")
    monkeypatch.setenv("PASSED", "by-name")
    env = process.build_env(["PATH=/img/bin", "LANG=C.UTF-8", "junk"], ["A=1", "PASSED", "NOT_SET"], "box", "/home/u")
    assert env == {"PATH": "/img/bin", "LANG": "C.UTF-8", "A": "1", "PASSED": "by-name", "HOSTNAME": "box", "HOME": "/home/u"}
    assert "HOST_SECRET" not in env


def test_env_defaults_and_bad_name():
    env = process.build_env([], [], "box", "")
    assert env["PATH"] == process.DEFAULT_PATH and env["HOME"] == "/"
    with pytest.raises(UsageError):
        process.build_env([], ["=x"], "box", "/")


def test_find_executable_error_classes(tmp_path):
    (tmp_path / "script").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "script", 0o644)
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "tool", 0o755)
    assert process.find_executable("tool", f"/nonexistent:{tmp_path}") == f"{tmp_path}/tool"
    with pytest.raises(CommandNotFound, match="executable file not found in \\$PATH"):
        process.find_executable("missing", str(tmp_path))
    with pytest.raises(CommandNotExecutable) as info:
        process.find_executable(str(tmp_path / "script"), "")
    assert info.value.exit_code == 126
    with pytest.raises(CommandNotExecutable, match="is a directory"):
        process.find_executable(str(tmp_path), "")


def test_close_fds_keeps_only_what_is_asked():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            leaked = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
            for fd in leaked:
                os.set_inheritable(fd, True)  # no O_CLOEXEC: exec would keep them
            process.close_fds(keep=(0, 1, 2, w))
            left = sorted(int(x) for x in os.listdir("/proc/self/fd"))
            os.write(w, f"{leaked} {left}".encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    leaked_text, left_text = out.split("] [")
    leaked = {int(x) for x in leaked_text.strip("[").split(",")}
    left = {int(x) for x in left_text.strip("]").split(",")}
    assert not leaked & left
    assert {0, 1, 2, w} <= left and len(left) == 5  # plus the fd listdir itself had open


def test_enter_workdir_refuses_relative(tmp_path):
    with pytest.raises(ContainerError, match="must be an absolute path"):
        process.enter_workdir("relative/dir")
