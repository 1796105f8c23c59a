"""A real Debian 12 minbase image (debootstrap, then umoci) under both profiles."""

from __future__ import annotations

import pytest
from helpers.hbrun import RunStore, make_store

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def store(debian_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-debian") / "store", debian_layout.ref, tag="debtest")


def test_ownership_and_modes_are_the_images(store):
    proc = store.hardbox("run", "--rm", "--profile", "strict", "debtest", "stat", "-c", "%n %u:%g %a",
                         "/etc/shadow", "/usr/bin/passwd", "/var/mail", "/etc/passwd")
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert got["/etc/shadow"] == "0:42 640"  # group shadow, as dpkg installed it
    assert got["/usr/bin/passwd"] == "0:0 4755"  # the setuid bit is shown ...
    assert got["/var/mail"] == "0:8 2775"
    assert got["/etc/passwd"] == "0:0 644"


def test_setuid_binaries_gain_nothing(store):
    """... but no_new_privs and the user namespace keep it from raising privileges."""
    proc = store.hardbox("run", "--rm", "-u", "nobody", "debtest", "sh", "-c",
                         "cat /etc/shadow; echo status=$?; grep CapEff /proc/self/status; id -u")
    assert "Permission denied" in proc.stderr + proc.stdout
    assert "status=1" in proc.stdout
    assert "65534" in proc.stdout.split()


def test_debian_userland_runs_and_env_is_clean(store):
    env = store.env(HOST_SECRET="s3cr3t")
    proc = store.hardbox("run", "--rm", "debtest", "bash", "-c",
                         ". /etc/os-release; echo $VERSION_CODENAME; env | sort; ls /proc/self/fd | wc -l", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "bookworm"
    assert "HOST_SECRET" not in proc.stdout
