"""Volumes a container can write (issue 17): `-v SRC:DST:idmap` (an idmapped bind mount) and
Podman's `:U`, under the default profile, where container root is an unprivileged host uid
and a host directory's owner shows as 65534 inside; named volumes refused clearly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, make_store

from hardbox.runtime import idmap

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-volumes") / "store", busybox_layout.ref)


def _host_dir(base: Path, name: str, uid: int = 0, gid: int = 0) -> Path:
    d = base / name
    d.mkdir()
    os.chown(d, uid, gid)
    d.chmod(0o755)
    return d


def test_container_root_cannot_write_a_plain_volume(store: RunStore, tmp_path: Path) -> None:
    """The control: without idmap or U, a root-owned 0755 host directory refuses writes."""
    d = _host_dir(tmp_path, "plain")
    proc = store.hardbox("run", "--rm", "-u", "0", "-v", f"{d}:/data", "bbtest", "sh", "-c", "touch /data/f")
    assert proc.returncode != 0 and "Permission denied" in proc.stderr
    assert not (d / "f").exists()


def test_idmap_lets_container_root_write_as_the_directorys_owner(store: RunStore, tmp_path: Path) -> None:
    d = _host_dir(tmp_path, "idmapped")
    proc = store.hardbox("run", "--rm", "-u", "0", "-v", f"{d}:/data:idmap", "bbtest",
                         "sh", "-c", "echo hi > /data/f && stat -c '%u:%g' /data /data/f")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0:0", "0:0"]  # inside: the host owner, unshifted
    st = (d / "f").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)  # on the host: root's, as the directory is
    assert (d / "f").read_text() == "hi\n"


def test_idmap_keeps_a_non_root_owner(store: RunStore, tmp_path: Path) -> None:
    d = _host_dir(tmp_path, "users", uid=1234, gid=1234)
    proc = store.hardbox("run", "--rm", "-u", "1234:1234", "-v", f"{d}:/data:rw,idmap", "bbtest",
                         "sh", "-c", "touch /data/f && id -u")
    assert proc.returncode == 0, proc.stderr
    st = (d / "f").stat()
    assert (st.st_uid, st.st_gid) == (1234, 1234)


def test_idmap_ro_stays_read_only(store: RunStore, tmp_path: Path) -> None:
    d = _host_dir(tmp_path, "ro")
    proc = store.hardbox("run", "--rm", "-u", "0", "-v", f"{d}:/data:ro,idmap", "bbtest", "sh", "-c", "touch /data/f")
    assert proc.returncode != 0 and "Read-only file system" in proc.stderr


def test_U_gives_the_tree_to_container_root_and_follows_no_link(store: RunStore, tmp_path: Path) -> None:
    d = _host_dir(tmp_path, "chowned")
    (d / "sub").mkdir()
    (d / "sub" / "old").write_text("x")
    canary = tmp_path / "canary"
    canary.write_text("host file")
    os.chown(canary, 0, 0)
    (d / "link").symlink_to(canary)
    proc = store.hardbox("run", "--rm", "-u", "0", "-v", f"{d}:/data:U", "bbtest",
                         "sh", "-c", "touch /data/new /data/sub/new2 && stat -c '%u' /data/sub/old")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"  # container root owns it inside
    ids = idmap.for_invoking_user()
    want = (ids.host_uid(0), ids.host_gid(0))
    for path in (d, d / "sub", d / "sub" / "old", d / "new", d / "sub" / "new2"):
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == want, path
    assert (d / "link").lstat().st_uid == want[0]
    assert (canary.stat().st_uid, canary.stat().st_gid) == (0, 0)  # the link was not followed


@pytest.mark.parametrize("spec", ["data:/data", "./data:/data", "sub/dir:/data"])
def test_named_volumes_and_relative_paths_are_refused(store: RunStore, spec: str) -> None:
    proc = store.hardbox("run", "--rm", "-v", spec, "bbtest", "true")
    assert proc.returncode == 125
    assert "hardbox has no named volumes" in proc.stderr and "absolute path" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_volume_option_is_refused(store: RunStore, tmp_path: Path) -> None:
    proc = store.hardbox("run", "--rm", "-v", f"{tmp_path}:/data:Z", "bbtest", "true")
    assert proc.returncode == 125 and "unknown option 'Z'" in proc.stderr


def test_explain_names_container_roots_host_uid_for_an_unwritable_volume(store: RunStore, tmp_path: Path) -> None:
    d = _host_dir(tmp_path, "explained")
    uid = idmap.for_invoking_user().host_uid(0)
    proc = store.hardbox("run", "--explain", "-v", f"{d}:/data", "bbtest")
    assert proc.returncode == 0, proc.stderr
    assert f"container root is host uid {uid}, and {d} is owned by 0:0 mode 0755: writes there fail" in proc.stdout
    for fine in (f"{d}:/data:idmap", f"{d}:/data:U", f"{d}:/data:ro"):
        proc = store.hardbox("run", "--explain", "-v", fine, "bbtest")
        assert proc.returncode == 0 and "writes there fail" not in proc.stdout, fine
