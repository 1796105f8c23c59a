"""The cgroup code's string-path and name rules (cgroups/base.py) against the pathlib and
regex rules they replaced: the same inputs accepted and refused, the same paths made.

The reference implementations here are the code as it was before the run path dropped
pathlib and re (issue 14, start-up budget); hostile inputs are the point.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path, PurePosixPath

import pytest

from hardbox.runtime.cgroups.base import (
    CgroupUnavailable,
    Mount,
    beneath,
    cgroup_mounts,
    check_name,
    join,
    normpath,
    own_cgroups,
    path_parts,
    recorded_path_ok,
)

_OLD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

NAMES = [
    "", "a", "A", "0", "abc", "a-b_c.d", "-a", "_a", ".a", "..", ".", "a/b", "../escape", "a b",
    "a\x00", "\u00e9t\u00e9", "a\u0660", "\u0661", "a" * 128, "a" * 129, "a:b", "a*", "a\tb",
    "x" + "." * 127, "Z9", "9-", "a\r", "\na",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_are_accepted_and_refused_as_the_regex_did(name: str) -> None:
    if _OLD_NAME.match(name):
        assert check_name(name) == name
    else:
        with pytest.raises(CgroupUnavailable, match="must be letters"):
            check_name(name)


def test_a_trailing_newline_is_refused_where_the_regex_let_it_through() -> None:
    # The one input the old rule's "$" accepted: a cgroup directory named with a newline,
    # which /proc/PID/cgroup could not be read back from. Refused now.
    assert _OLD_NAME.match("abc\n")
    with pytest.raises(CgroupUnavailable):
        check_name("abc\n")


PATHS = [
    "/", "//", "///", "////x", "//x/y", "/x//y/", "/x/./y", "/x/../y", "x/y", "./x", "", ".",
    "/sys/fs/cgroup/pids/", "/sys/fs/cgroup/pids/hardbox-a", "/sys/fs/cgroup/pids/./hardbox-a/",
    "/a/b/..", "..", "../a", "/ /x", "/x\\040y", "/\u00e9/\udcff", "x//", "//sys/fs/cgroup/pids",
]


@pytest.mark.parametrize("path", PATHS)
def test_path_parts_and_normpath_are_pathlibs(path: str) -> None:
    assert path_parts(path) == PurePosixPath(path).parts
    assert normpath(path) == str(PurePosixPath(path))
    assert path_parts(Path(path)) == PurePosixPath(path).parts  # a Path from `hardbox rm`


@pytest.mark.parametrize(("directory", "relative"), list(itertools.product(
    ["/sys/fs/cgroup/memory", "/", "//", "/a/b/", "//a"], ["", ".", "x", "x/y", "/x", "x//y/", "./x/.", "../x"])))
def test_join_is_pathlibs_slash(directory: str, relative: str) -> None:
    assert join(directory, relative) == str(PurePosixPath(directory) / relative.lstrip("/"))


def _old_recorded_path_ok(path: Path, name: str, mount: Path) -> bool:
    return path.name == f"hardbox-{check_name(name)}" and ".." not in path.parts and path.is_relative_to(mount)


RECORDED = [
    "/sys/fs/cgroup/pids/hardbox-c1", "/sys/fs/cgroup/pids/x/hardbox-c1", "/sys/fs/cgroup/pids/hardbox-c1/",
    "/sys/fs/cgroup/pids/./hardbox-c1", "/sys/fs/cgroup/pids/../hardbox-c1", "/etc/hardbox-c1",
    "//sys/fs/cgroup/pids/hardbox-c1", "///sys/fs/cgroup/pids/hardbox-c1", "sys/fs/cgroup/pids/hardbox-c1",
    "/sys/fs/cgroup/pids/hardbox-c1x", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/pidsx/hardbox-c1",
    "/sys/fs/cgroup/pids/hardbox-c1/..", "/sys/fs/cgroup/pids/hardbox-c2", "/", "", "hardbox-c1",
    "/sys/fs/cgroup//pids/hardbox-c1",
]


@pytest.mark.parametrize("path", RECORDED)
@pytest.mark.parametrize("mount", ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/pids/", "/"])
def test_recorded_paths_are_judged_as_before(path: str, mount: str) -> None:
    expected = _old_recorded_path_ok(Path(path), "c1", Path(mount))
    assert recorded_path_ok(path, "c1", mount) is expected
    assert recorded_path_ok(Path(path), "c1", Path(mount)) is expected  # `hardbox rm` passes Paths


def test_a_recorded_path_with_a_bad_name_is_refused_by_name() -> None:
    with pytest.raises(CgroupUnavailable):
        recorded_path_ok("/sys/fs/cgroup/pids/hardbox-..", "..", "/sys/fs/cgroup/pids")


@pytest.mark.parametrize(("mount_root", "own", "expected"), [
    ("/", "/", "/sys/fs/cgroup/pids"),
    ("/", "/user.slice/session-1.scope", "/sys/fs/cgroup/pids/user.slice/session-1.scope"),
    ("/docker/abc", "/docker/abc", "/sys/fs/cgroup/pids"),
    ("/docker/abc", "/docker/abc/sub", "/sys/fs/cgroup/pids/sub"),
    ("/docker/abc", "/docker/abcdef", "/sys/fs/cgroup/pids/docker/abcdef"),  # not beneath the root
    ("/", "//x//y/", "/sys/fs/cgroup/pids/x/y"),
])
def test_beneath_finds_our_cgroup_in_a_mount_that_shows_a_subtree(mount_root: str, own: str, expected: str) -> None:
    mount = Mount("/sys/fs/cgroup/pids", mount_root, "cgroup", frozenset({"pids"}))
    assert beneath(mount, own) == expected
    old = Path(mount.path) / (own[len(mount_root):] if mount_root != "/" and (
        own == mount_root or own.startswith(mount_root + "/")) else own).lstrip("/")
    assert beneath(mount, own) == str(old)


def test_mountinfo_and_proc_cgroup_are_parsed_from_hostile_files(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_bytes(
        b"30 25 0:26 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n"
        b"31 25 0:27 /sub /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,memory\n"
        b"32 25 0:28 / /mnt/\xff\xfe rw - cgroup2 cgroup2 rw\n"  # not UTF-8: still read
        b"33 25 0:29 / /proc rw - proc proc rw\n"
        b"garbage line\n"
        b"34 25 0:30 / /short - cgroup\n"
    )
    mounts = cgroup_mounts(mountinfo)
    assert [(m.path, m.root, m.fstype, m.options) for m in mounts] == [
        ("/sys/fs/cgroup/pids", "/", "cgroup", frozenset({"rw", "pids"})),
        ("/sys/fs/cgroup/with space", "/sub", "cgroup", frozenset({"rw", "memory"})),
        ("/mnt/\udcff\udcfe", "/", "cgroup2", frozenset({"rw"})),
    ]
    assert mounts[2].path.encode("utf-8", "surrogateescape") == b"/mnt/\xff\xfe"  # the same bytes back
    self_cgroup = tmp_path / "cgroup"
    self_cgroup.write_text("12:pids:/a\n11:cpu,cpuacct:/b:c\n0::/u\n1:name=systemd:/s\n")
    assert own_cgroups(self_cgroup) == {"pids": "/a", "cpu": "/b:c", "cpuacct": "/b:c", "": "/u", "name=systemd": "/s"}
