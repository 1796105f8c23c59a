"""-v parsing (ro/rw, idmap, U; no named volumes) and --explain's note on volumes container
root could not write to, naming the host uid it runs as (issue 17)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hardbox.errors import UsageError
from hardbox.runtime.mounts import Volume, chown_tree, write_refusal


def test_options(tmp_path: Path) -> None:
    src = str(tmp_path)
    assert Volume.parse(f"{src}:/d", read_only_default=False) == Volume(src, "/d", False)
    assert Volume.parse(f"{src}:/d", read_only_default=True) == Volume(src, "/d", True)
    assert Volume.parse(f"{src}:/d:rw", read_only_default=True) == Volume(src, "/d", False)
    assert Volume.parse(f"{src}:/d:idmap", read_only_default=False) == Volume(src, "/d", False, idmap=True)
    assert Volume.parse(f"{src}:/d:ro,U", read_only_default=False) == Volume(src, "/d", True, chown=True)
    assert Volume.parse(f"{src}/./:/d/../e", read_only_default=False).destination == "/e"


@pytest.mark.parametrize("spec, words", [
    ("data:/d", "'data' is not an absolute path; hardbox has no named volumes"),
    ("./x:/d", "'./x' is not an absolute path"),
    ("{src}:/d:ro,rw", "both ro and rw"),
    ("{src}:/d:z", "unknown option 'z'"),
    ("{src}:d", "destination must be an absolute path"),
    ("{src}", "expected SRC:DST"),
])
def test_refusals(tmp_path: Path, spec: str, words: str) -> None:
    with pytest.raises(UsageError) as err:
        Volume.parse(spec.format(src=tmp_path), read_only_default=False)
    assert words in err.value.message
    if "named" in words:
        assert err.value.hint and "$PWD/" in err.value.hint


def test_write_refusal_names_container_roots_host_uid(tmp_path: Path) -> None:
    d = tmp_path / "v"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    owner = d.stat().st_uid
    vol = Volume(str(d), "/d", False)
    note = write_refusal(vol, 100000, 100000)
    assert note is not None and "container root is host uid 100000" in note and "0755" in note
    assert write_refusal(vol, owner, 12345) is None  # its owner may write
    assert write_refusal(Volume(str(d), "/d", True), 100000, 100000) is None
    assert write_refusal(Volume(str(d), "/d", False, idmap=True), 100000, 100000) is None
    os.chmod(d, 0o777)
    assert write_refusal(vol, 100000, 100000) is None


def test_explain_lists_the_note(tmp_path: Path) -> None:
    from hardbox.runtime.profile.explain import steps
    from hardbox.runtime.profile.load import load_profile

    d = tmp_path / "v"
    d.mkdir()
    os.chmod(d, 0o755)
    step = next(s for s in steps(load_profile("default"), volumes=(f"{d}:/data",)) if s.step == "volumes")
    if os.geteuid() == 0:
        assert "container root is host uid" in step.setting and "add :idmap or :U" in step.setting
    idmapped = next(s for s in steps(load_profile("default"), volumes=(f"{d}:/data:idmap",)) if s.step == "volumes")
    assert "writes there fail" not in idmapped.setting


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids needs root")
def test_chown_tree_changes_links_not_their_targets(tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("x")
    target = tmp_path / "outside"
    target.write_text("y")
    (root / "a" / "l").symlink_to(target)
    (root / "dirlink").symlink_to(tmp_path)
    chown_tree(str(root), 4321, 4322)
    for p in (root, root / "a", root / "a" / "b", root / "a" / "b" / "f", root / "a" / "l", root / "dirlink"):
        assert (p.lstat().st_uid, p.lstat().st_gid) == (4321, 4322), p
    assert target.stat().st_uid == os.getuid() and tmp_path.stat().st_uid == os.getuid()
