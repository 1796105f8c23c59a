"""runtime/rmtree.remove_tree: a container's state dir removed whole, symlinks never followed,
as root and as an unprivileged owner (mode-000 and read-only directories, as overlayfs and
images leave them)."""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable

import pytest

from hardbox.runtime import rmtree
from hardbox.runtime.rmtree import remove_tree


def _outside(base: str) -> tuple[str, str]:
    """A directory and a file outside the tree, each with something to lose."""
    outside = os.path.join(base, "outside")
    os.makedirs(os.path.join(outside, "keep"))
    with open(os.path.join(outside, "keep", "precious"), "w") as fh:
        fh.write("x")
    secret = os.path.join(base, "secret")
    with open(secret, "w") as fh:
        fh.write("y")
    return outside, secret


def _tree(top: str, outside: str, secret: str) -> None:
    """What a container's state dir holds after a run whose workload was hostile."""
    os.makedirs(os.path.join(top, "upper", "a", "b", "c"))
    os.makedirs(os.path.join(top, "work", "work"))
    os.mkdir(os.path.join(top, "rootfs"))
    for name in ("state.json", "process.env", "upper/a/file", "upper/a/b/c/deep"):
        with open(os.path.join(top, name), "w") as fh:
            fh.write("data")
    os.symlink(outside, os.path.join(top, "upper", "to-outside-dir"))
    os.symlink(outside + "/keep", os.path.join(top, "upper", "a", "to-outside-subdir"))
    os.symlink(secret, os.path.join(top, "upper", "a", "b", "to-secret"))
    os.symlink("/", os.path.join(top, "upper", "root"))
    os.symlink("../../..", os.path.join(top, "upper", "a", "dotdot"))
    os.symlink("missing", os.path.join(top, "upper", "dangling"))
    os.mkfifo(os.path.join(top, "upper", "fifo"))
    os.chmod(os.path.join(top, "work", "work"), 0)  # as overlayfs leaves it
    os.chmod(os.path.join(top, "upper", "a", "b"), 0o500)  # a read-only directory of the image


def _survives(outside: str, secret: str) -> None:
    assert sorted(os.listdir(outside)) == ["keep"]
    with open(os.path.join(outside, "keep", "precious")) as fh:
        assert fh.read() == "x"
    with open(secret) as fh:
        assert fh.read() == "y"


def _in_child(work: Callable[[], None]) -> None:
    """Run ``work`` in a forked child (its credentials and limits stay there); it must succeed."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_removes_the_tree_and_nothing_its_symlinks_point_at(tmp_path):
    outside, secret = _outside(str(tmp_path))
    top = str(tmp_path / "state")
    _tree(top, outside, secret)
    remove_tree(top)
    assert not os.path.lexists(top)
    _survives(outside, secret)


def test_a_symlink_given_as_the_top_is_removed_not_followed(tmp_path):
    outside, secret = _outside(str(tmp_path))
    link = tmp_path / "link"
    link.symlink_to(outside)
    remove_tree(link)
    assert not os.path.lexists(link)
    _survives(outside, secret)


def test_missing_top_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        remove_tree(tmp_path / "nothing")


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_unlinked(tmp_path, monkeypatch):
    """The race shutil.rmtree's fd walk guards against: listed as a directory, a symlink to
    the outside when it is opened. The open refuses to follow it and the link goes."""
    outside, secret = _outside(str(tmp_path))
    top = tmp_path / "state"
    (top / "upper" / "victim").mkdir(parents=True)
    real_open_dir = rmtree._open_dir

    def swap_then_open(parent_fd: int, name: str) -> int:
        if name == "victim":
            os.rmdir(name, dir_fd=parent_fd)
            os.symlink(outside, name, dir_fd=parent_fd)
        return real_open_dir(parent_fd, name)

    monkeypatch.setattr(rmtree, "_open_dir", swap_then_open)
    remove_tree(top)
    assert not top.exists()
    _survives(outside, secret)


@pytest.mark.root
def test_an_unprivileged_owner_removes_mode_000_and_read_only_dirs():
    """A rootless run's owner has no CAP_DAC_OVERRIDE: the walk opens its directories up."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a tree owned by another user")
    base = tempfile.mkdtemp(prefix="hardbox-rmtree-")
    try:
        os.chmod(base, 0o755)
        outside, secret = _outside(base)
        top = os.path.join(base, "state")
        _tree(top, outside, secret)
        for dirpath, dirnames, filenames in os.walk(base):
            for name in (*dirnames, *filenames):
                os.chown(os.path.join(dirpath, name), 65534, 65534, follow_symlinks=False)
        os.chown(base, 65534, 65534)

        def as_nobody() -> None:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            remove_tree(top)

        _in_child(as_nobody)
        assert not os.path.lexists(top)
        _survives(outside, secret)
    finally:
        shutil.rmtree(base)


def test_a_tree_deeper_than_the_recursion_and_descriptor_limits(tmp_path):
    """A workload can nest directories as deep as it likes; the removal still ends, holding
    a bounded number of descriptors (RLIMIT_NOFILE is lowered below the depth here)."""
    outside, secret = _outside(str(tmp_path))
    top = tmp_path / "state"
    top.mkdir()
    depth = sys.getrecursionlimit() + 500
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(depth):  # relative to the last level: no path grows past PATH_MAX
        os.mkdir("d", dir_fd=fd)
        if i % 100 == 0:
            os.symlink(outside, "link", dir_fd=fd)
        nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def with_few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        remove_tree(top)

    _in_child(with_few_descriptors)
    assert not top.exists()
    _survives(outside, secret)


def test_an_ancestor_moved_while_its_descriptor_was_spared_stops_the_removal(tmp_path, monkeypatch):
    """A closed ancestor is reopened as `..` only if it is the same directory: one moved
    meanwhile (so `..` is now elsewhere) stops the walk instead of emptying the wrong place."""
    top = tmp_path / "state"
    deep = top
    for _ in range(5):
        deep = deep / "d"
    deep.mkdir(parents=True)
    monkeypatch.setattr(rmtree, "_OPEN_LEVELS", 2)
    real_reopen = rmtree._reopen_parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")

    def move_then_reopen(child_fd: int, identity: tuple[int, int]) -> int:
        # Move an ancestor whose descriptor was spared (state/d/d) under another parent:
        # going back up from it, `..` is `elsewhere`, not the state/d it was in.
        os.rename(top / "d" / "d", elsewhere / "moved")
        monkeypatch.setattr(rmtree, "_reopen_parent", real_reopen)
        return real_reopen(child_fd, identity)

    monkeypatch.setattr(rmtree, "_reopen_parent", move_then_reopen)
    with pytest.raises(OSError, match="moved during the removal"):
        remove_tree(top)
    assert (elsewhere / "keep").read_text() == "x"  # the walk did not go on in the new place
    assert (top / "d").is_dir()
