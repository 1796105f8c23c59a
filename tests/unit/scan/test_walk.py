"""The one walk: merged view, whiteouts, opaque directories, hidden files, confinement.

Layer directories are written in the overlayfs lower-dir format; the merged view is checked
against what the kernel's own overlayfs shows for the same directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.layerdirs import image_of, opaque, overlay_listing, whiteout, write

from hardbox.scan.walk import FileTooLarge, ImageFile, walk

pytestmark = pytest.mark.root  # whiteouts are device nodes: mknod needs CAP_MKNOD


class Recorder:
    def __init__(self, name: str = "test/recorder", prefix: str = "/") -> None:
        self.name = name
        self.prefix = prefix
        self.files: list[ImageFile] = []

    def wants(self, path: str) -> bool:
        return path.startswith(self.prefix)

    def visit(self, file: ImageFile) -> None:
        self.files.append(file)

    def by_layer(self, path: str) -> dict[int, ImageFile]:
        return {f.layer.index: f for f in self.files if f.path == path}


@pytest.fixture
def three_layers(tmp_path: Path) -> list[Path]:
    """Layer 0 ships a secret and some config; layer 1 deletes the secret and rewrites a
    file; layer 2 replaces /etc/app wholesale (opaque) and turns /opt/tool into a file."""
    l0, l1, l2 = (tmp_path / f"l{i}" for i in range(3))
    write(l0, "/etc/app/a.conf", "a0")
    write(l0, "/etc/app/b.conf", "b0")
    write(l0, "/root/.aws/credentials", "secret")
    write(l0, "/opt/tool/bin/run", "#!/bin/sh\n", 0o755)
    write(l0, "/usr/share/keep", "kept")
    write(l1, "/etc/app/a.conf", "a1")
    whiteout(l1, "/root/.aws/credentials")
    write(l1, "/usr/share/new", "new")
    opaque(l2, "/etc/app")
    write(l2, "/etc/app/c.conf", "c2")
    write(l2, "/opt/tool", "now a file")
    return [l0, l1, l2]


def test_merged_view_matches_kernel_overlayfs(three_layers: list[Path], tmp_path: Path) -> None:
    view = walk(image_of(*three_layers), [])
    kernel = overlay_listing(list(reversed(three_layers)), tmp_path / "mnt")
    if kernel is None:
        pytest.skip("overlayfs cannot be mounted here (needs root and a kernel with overlay)")
    assert set(view.entries) == kernel
    assert view.errors == []


def test_hidden_files_record_the_layer_that_hid_them(three_layers: list[Path]) -> None:
    rec = Recorder()
    view = walk(image_of(*three_layers), [rec])
    secret = rec.by_layer("/root/.aws/credentials")
    assert set(secret) == {0}  # the whiteout itself is a marker, never visited
    assert secret[0].hidden_by is not None and secret[0].hidden_by.index == 1
    assert secret[0].deleted
    # a.conf: layer 0's copy was replaced by layer 1, whose copy layer 2's opaque dir hid.
    a_conf = rec.by_layer("/etc/app/a.conf")
    assert a_conf[0].hidden_by is not None and a_conf[0].hidden_by.index == 1
    assert a_conf[1].hidden_by is not None and a_conf[1].hidden_by.index == 2
    assert a_conf[0].deleted and a_conf[1].deleted
    assert view.get("/etc/app/a.conf") is None
    # A directory replaced by a file hides everything below it.
    run = rec.by_layer("/opt/tool/bin/run")[0]
    assert run.hidden_by is not None and run.hidden_by.index == 2 and run.deleted
    tool = view.get("/opt/tool")
    assert tool is not None and tool.is_file and tool.layer.index == 2
    # Untouched files stay visible, with the layer that brought them.
    keep = view.get("/usr/share/keep")
    assert keep is not None and keep.layer.index == 0 and keep.visible
    new = view.get("/usr/share/new")
    assert new is not None and new.layer.index == 1


def test_the_walk_counts_what_later_layers_hide_and_tells_listeners(three_layers: list[Path]) -> None:
    """Per layer: the regular files a later layer deleted or replaced, their bytes and the
    layers that hid them — counted once, by the walk, for the layer table and the
    wasted-space check alike; a visitor with ``walked`` gets the finished view."""

    class Listener(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.views: list[object] = []

        def walked(self, view: object) -> None:
            self.views.append(view)

    listener = Listener()
    view = walk(image_of(*three_layers), [listener])
    assert listener.views == [view] and listener.views[0] is view
    by_index = {ref.index: shadow for ref, shadow in view.shadowed.items()}
    assert set(by_index) == {0, 1}
    # Layer 0: a.conf (2 bytes, replaced by 1), b.conf (2, under 2's opaque dir), the
    # credentials (6, whited out by 1), bin/run (10, its directory replaced by a file in 2).
    assert (by_index[0].files, by_index[0].bytes, by_index[0].by) == (4, 20, {1, 2})
    # Layer 1: its a.conf under layer 2's opaque dir; its whiteout is a marker, not a file.
    assert (by_index[1].files, by_index[1].bytes, by_index[1].by) == (1, 2, {2})
    hidden = [f for f in listener.files if f.hidden_by is not None and f.is_file]
    assert sum(f.size for f in hidden) == sum(s.bytes for s in view.shadowed.values())


def test_replaced_file_is_not_deleted(tmp_path: Path) -> None:
    """Deleted in layer 1 and put back in layer 2: layer 0's copy is hidden, not deleted."""
    l0, l1, l2 = (tmp_path / f"l{i}" for i in range(3))
    write(l0, "/etc/motd", "old")
    whiteout(l1, "/etc/motd")
    l1.joinpath("etc").mkdir(exist_ok=True)
    write(l2, "/etc/motd", "new")
    rec = Recorder()
    view = walk(image_of(l0, l1, l2), [rec])
    motd = rec.by_layer("/etc/motd")
    assert motd[0].hidden_by is not None and motd[0].hidden_by.index == 1
    assert not motd[0].deleted
    assert motd[2].visible
    entry = view.get("/etc/motd")
    assert entry is not None and entry.layer.index == 2
    with entry.open() as fh:
        assert fh.read() == b"new"


def test_directory_in_several_layers_is_visible_once(three_layers: list[Path]) -> None:
    rec = Recorder()
    walk(image_of(*three_layers), [rec])
    usr = rec.by_layer("/usr/share")
    assert set(usr) == {0, 1}
    assert usr[1].visible
    assert usr[0].hidden_by is not None and usr[0].hidden_by.index == 1 and not usr[0].deleted


def test_visitors_see_only_paths_they_want(three_layers: list[Path]) -> None:
    etc = Recorder("test/etc", "/etc/")
    walk(image_of(*three_layers), [etc])
    assert etc.files and all(f.path.startswith("/etc/") for f in etc.files)
    assert [f.layer.created_by for f in etc.files if f.path == "/etc/app/c.conf"] == ["layer 2"]


def test_stat_fields(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(layer, "/usr/bin/tool", b"\x7fELF" + b"\0" * 60)
    os.chown(layer / "usr/bin/tool", 0, 42)
    os.chmod(layer / "usr/bin/tool", 0o4755)  # after chown, which clears setuid
    (layer / "usr/bin/alias").symlink_to("tool")
    view = walk(image_of(layer), [])
    tool = view.get("/usr/bin/tool")
    assert tool is not None
    assert (tool.mode & 0o7777, tool.uid, tool.gid, tool.size) == (0o4755, 0, 42, 64)
    assert tool.is_executable and tool.is_file
    alias = view.get("/usr/bin/alias")
    assert alias is not None and alias.is_symlink and alias.link_target == "tool"
    assert view.resolve("/usr/bin/alias") == tool


def test_symlinks_never_leave_the_image(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    outside = tmp_path / "host-secret"
    outside.write_text("host data")
    write(layer, "/etc/hostname", "image")
    (layer / "etc/escape").symlink_to(str(outside))  # absolute: means /tmp/... in the image
    (layer / "etc/dotdot").symlink_to("../../../../../../etc/hostname")
    (layer / "etc/loop").symlink_to("loop")
    view = walk(image_of(layer), [])
    escape = view.get("/etc/escape")
    assert escape is not None
    with pytest.raises(OSError):
        escape.open()  # O_NOFOLLOW: the host file is never read
    assert view.resolve("/etc/escape") is None
    dotdot = view.resolve("/etc/dotdot")
    assert dotdot is not None and dotdot.path == "/etc/hostname"
    assert view.resolve("/etc/loop") is None


def test_read_limit(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(layer, "/big", b"x" * 4096)
    view = walk(image_of(layer), [])
    big = view.get("/big")
    assert big is not None
    assert big.read_bytes(4096) == b"x" * 4096
    with pytest.raises(FileTooLarge):
        big.read_bytes(4095)


def test_deep_nesting_does_not_exhaust_recursion(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    deep = str(layer)
    os.mkdir(deep)
    for _ in range(1100):  # os.makedirs recurses per level; a loop does not
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    Path(deep, "leaf").write_text("x")
    try:
        view = walk(image_of(layer), [])
        assert view.get("/" + "/".join(["d"] * 1100) + "/leaf") is not None
    finally:
        # shutil.rmtree (and so pytest's tmp cleanup) recurses per level: undo by hand.
        os.unlink(os.path.join(deep, "leaf"))
        while deep != str(layer):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_missing_layer_directory_is_recorded(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(layer, "/ok", "fine")
    gone = tmp_path / "missing-layer"
    view = walk(image_of(layer, gone), [])
    assert view.get("/ok") is not None
    assert any("cannot read layer directory" in e for e in view.errors)


def test_other_filesystems_are_not_walked(tmp_path: Path) -> None:
    """dir:/ of a live system has /proc and /sys mounted inside: the walk stays on the root's
    filesystem (a tmpfs mounted in a private mount namespace stands in for /proc)."""
    layer = tmp_path / "l0"
    write(layer, "/etc/hostname", "box")
    (layer / "proc").mkdir()
    script = (
        "import sys; from helpers.layerdirs import image_of; "
        "from hardbox.scan.walk import walk; from pathlib import Path; "
        "view = walk(image_of(Path(sys.argv[1])), []); print(sorted(view.entries)); print(view.errors)"
    )
    tests, repo = Path(__file__).parents[2], Path(__file__).parents[3]
    inner = (
        f"mount -t tmpfs none {layer}/proc && touch {layer}/proc/kcore && "
        f"PYTHONPATH={tests}:{repo} {sys.executable} -c '{script}' {layer}"
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", inner],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs in a private mount namespace: {proc.stderr.strip()[-200:]}"
        )
    entries, errors = proc.stdout.splitlines()
    assert entries == str(["/etc", "/etc/hostname", "/proc"])
    assert "/proc: another filesystem is mounted here; not walked" in errors
