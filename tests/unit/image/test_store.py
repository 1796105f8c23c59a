"""The store: content-addressed, verified, deduplicated, private, and tidy after failure.

Images come from umoci and skopeo (conftest fixtures); derived images share the busybox
base layer, so sharing is proven on real layers. Byte counts are measured two ways: the
store's own write counter and a walk of the store comparing inodes, sizes and mtimes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import imagebuild

from hardbox.errors import ImageNotFound, InvalidImage, InvalidReference
from hardbox.image.store.importer import import_path, tag, write_image
from hardbox.image.store.prune import prune, remove
from hardbox.image.store.store import Store, WriteStats, default_root

Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every path below blobs/sha256/ and layers/ with (inode, size, mtime_ns), links not
    followed (the two directories themselves change mtime when entries are added)."""
    out = {}
    for top in ("blobs/sha256", "layers"):
        for dirpath, dirnames, filenames in os.walk(root / top):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                out[str(path.relative_to(root))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def assert_blobs_verified(root: Path) -> None:
    for blob in (root / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob


def derive(layout: Path, base: str, new: str, change: Callable[[Path], object],
           created_by: str) -> None:
    """Tag ``base`` as ``new`` in a umoci layout and add one layer made by ``change``."""
    imagebuild.run(["umoci", "tag", "--image", f"{layout}:{base}", new])
    bundle = layout.parent / f"bundle-{new}"
    imagebuild.run(["umoci", "unpack", "--image", f"{layout}:{new}", bundle])
    change(bundle / "rootfs")
    imagebuild.run(["umoci", "repack", "--image", f"{layout}:{new}",
                    "--history.created_by", created_by, bundle])
    imagebuild.run(["rm", "-rf", str(bundle)])


@pytest.fixture(scope="module")
def family(busybox_layout: imagebuild.OciImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the busybox layout with ``v2`` (base + one layer) and ``v3``
    (v2 + one more), so v2 shares one layer with latest and v3 shares two with v2."""
    layout = tmp_path_factory.mktemp("family") / "layout"
    imagebuild.run(["cp", "-a", str(busybox_layout.layout), str(layout)])

    def add_app(rootfs: Path) -> None:
        (rootfs / "app").mkdir()
        (rootfs / "app" / "data.bin").write_bytes(os.urandom(300_000))

    def add_conf(rootfs: Path) -> None:
        (rootfs / "etc" / "app.conf").write_text("level = 3\n")

    derive(layout, "latest", "v2", add_app, "COPY app /app")
    derive(layout, "v2", "v3", add_conf, "COPY app.conf /etc")
    return layout


@pytest.fixture
def store(hardbox_root: Path) -> Store:
    return Store.open()


def test_store_root_is_created_private(hardbox_root: Path) -> None:
    old = os.umask(0)
    try:
        store = Store.open()
    finally:
        os.umask(old)
    assert store.root == hardbox_root
    assert stat.S_IMODE(hardbox_root.stat().st_mode) == 0o700
    for sub in ("blobs/sha256", "layers", "images", "tmp"):
        assert stat.S_IMODE((hardbox_root / sub).stat().st_mode) == 0o700


def test_default_root_follows_the_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDBOX_ROOT", "/somewhere/else")
    assert default_root() == Path("/somewhere/else")
    monkeypatch.delenv("HARDBOX_ROOT")
    expected = Path("/var/lib/hardbox") if os.geteuid() == 0 else Path.home() / ".local/share/hardbox"
    assert default_root() == expected


def test_one_image_from_three_formats_is_one_id_and_one_unpacked_layer(
        store: Store, busybox_layout: imagebuild.OciImage, busybox_archive: Path,
        tmp_path: Path) -> None:
    oci_archive = busybox_layout.oci_archive(tmp_path / "bb-oci.tar")
    from_docker = import_path(store, busybox_archive)
    from_layout = import_path(store, busybox_layout.layout)
    from_archive = import_path(store, oci_archive)
    ids = {im.id for im in from_docker + from_layout + from_archive}
    assert len(ids) == 1
    assert from_docker[0].tags == ("docker.io/library/bbtest:latest",)
    assert from_archive[0].tags[0] == "docker.io/library/bb-oci:latest"
    # skopeo's docker archive has a plain layer, umoci's a gzip one: two blobs, one diff_id.
    assert store.stats.layers_unpacked == 1
    layer = from_docker[0].layers[0]
    assert layer.path == store.root / "layers" / layer.diff_id.split(":")[1]
    assert (layer.path / "bin" / "busybox").is_file()
    assert (layer.path / "bin" / "sh").is_symlink()
    assert layer.size == from_layout[0].layers[0].size > 1_000_000
    assert layer.created_by == "COPY busybox-static /"
    assert_blobs_verified(store.root)
    assert list((store.root / "tmp").iterdir()) == []


def test_shared_layers_are_neither_written_nor_unpacked_again(store: Store, family: Path) -> None:
    base = import_path(store, f"{family}:latest")[0]
    before = snapshot(store.root)
    store.stats = WriteStats()
    v2 = import_path(store, f"{family}:v2")[0]
    after = snapshot(store.root)

    # Nothing that existed was rewritten: same inode, size and mtime for every path.
    assert {p: after[p] for p in before} == before
    new = set(after) - set(before)
    shared, top = v2.layers
    assert shared.diff_id == base.layers[0].diff_id
    assert not any(shared.diff_id.split(":")[1] in p for p in new)
    # Exactly three new blobs: the new layer, the config and the manifest.
    new_blobs = {p for p in new if p.startswith("blobs/")}
    assert new_blobs == {f"blobs/sha256/{d.split(':')[1]}"
                         for d in (top.digest, v2.id, v2.manifest_digest)}
    new_blob_bytes = sum(after[p][1] for p in new_blobs)
    assert store.stats.blob_bytes == new_blob_bytes
    assert store.stats.blobs_written == 3
    assert store.stats.layers_unpacked == 1
    # Everything new under layers/ belongs to the one new layer.
    top_hex = top.diff_id.split(":")[1]
    assert all(p.startswith(f"layers/{top_hex}") for p in new if p.startswith("layers/"))
    shared_bytes = sum(v for p, (_, v, _) in before.items() if p.startswith("blobs/"))
    assert new_blob_bytes < shared_bytes / 3


def test_reimport_reads_and_writes_nothing_new(store: Store, family: Path) -> None:
    import_path(store, f"{family}:v3")
    before = snapshot(store.root)
    store.stats = WriteStats()
    again = import_path(store, f"{family}:v3")
    assert store.stats == WriteStats()
    assert snapshot(store.root) == before
    assert [la.created_by for la in again[0].layers] == [
        "COPY busybox-static /", "COPY app /app", "COPY app.conf /etc"]


def test_a_layout_with_several_names_imports_them_all(store: Store, family: Path) -> None:
    images = import_path(store, family)
    names = sorted(t for im in images for t in im.tags)
    assert names == ["docker.io/library/layout:latest", "docker.io/library/layout:v2",
                     "docker.io/library/layout:v3"]
    assert store.stats.layers_unpacked == 3  # each distinct layer once


def test_get_accepts_names_digests_ids_and_prefixes(store: Store, family: Path) -> None:
    image = import_path(store, f"{family}:v2", tag="acme/app:2")[0]
    hex_id = image.id.split(":")[1]
    for ref in ("acme/app:2", "docker.io/acme/app:2", "layout:v2", image.id, hex_id, hex_id[:12],
                f"sha256:{hex_id[:8]}", image.manifest_digest, f"acme/app@{image.manifest_digest}"):
        assert store.get(ref).manifest_digest == image.manifest_digest, ref
    with pytest.raises(ImageNotFound, match="no image 'acme/app:3'"):
        store.get("acme/app:3")
    with pytest.raises(ImageNotFound):
        store.get("sha256:" + "0" * 64)
    with pytest.raises(InvalidReference):
        store.get("Not A Name")


def test_tags_move_and_the_old_image_stays(store: Store, family: Path) -> None:
    v2 = import_path(store, f"{family}:v2", tag="app:stable")[0]
    v3 = import_path(store, f"{family}:v3", tag="app:stable")[0]
    assert store.get("app:stable").id == v3.id
    assert "docker.io/library/app:stable" not in store.get(v2.id).tags
    tag(store, "layout:v2", "app:stable")
    assert store.get("app:stable").id == v2.id


def test_rm_untags_then_removes_what_no_image_uses(store: Store, family: Path) -> None:
    base = import_path(store, f"{family}:latest")[0]
    v2 = import_path(store, f"{family}:v2", tag="keep:me")[0]
    removed = remove(store, "layout:v2")
    assert removed.tags == ["docker.io/library/layout:v2"] and removed.images == []
    removed = remove(store, "keep:me")
    assert removed.images == [v2.manifest_digest]
    assert removed.layers == 1 and removed.blobs == 3
    assert not v2.layers[1].path.exists()
    assert base.layers[0].path.is_dir()  # still used by latest
    assert store.get("layout:latest").id == base.id
    remove(store, base.id[:16])
    assert store.images() == []
    assert list(store.blobs.iterdir()) == [] and list(store.layers.iterdir()) == []


def test_prune_removes_untagged_images_and_unreferenced_content(store: Store, family: Path) -> None:
    v3 = import_path(store, f"{family}:v3")[0]
    import_path(store, f"{family}:latest")
    tag(store, "layout:latest", "layout:v3")  # v3 is now untagged
    assert store.get(v3.id).tags == ()
    removed = prune(store)
    assert removed.images == [v3.manifest_digest]
    assert removed.layers == 2
    assert [im.tags for im in store.images()] == [("docker.io/library/layout:latest",
                                                   "docker.io/library/layout:v3")]
    assert len(list(store.layers.glob("*.json"))) == 1
    assert_blobs_verified(store.root)
    assert prune(store).blobs == 0  # nothing left to do


def _tar_of(directory: Path, out: Path) -> Path:
    imagebuild.run(["tar", "-C", str(directory), "--numeric-owner", "-cf", str(out), "."])
    return out


def test_write_image_stores_the_minimizers_layers(store: Store, family: Path,
                                                  tmp_path: Path) -> None:
    base = import_path(store, f"{family}:latest")[0]
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool").write_bytes(b"\x7fELF fake")
    os.chmod(tree / "bin" / "tool", 0o4755)
    tar = _tar_of(tree, tmp_path / "layer.tar")
    config = dict(base.config.raw, history=[{"created_by": "hardbox minimize"}])
    image = write_image(store, config, [tar], ["mini:1"])
    digest = "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    assert [la.diff_id for la in image.layers] == [digest]
    assert image.config.diff_ids == (digest,)
    assert image.tags == ("docker.io/library/mini:1",)
    assert image.layers[0].created_by == "hardbox minimize"
    tool = image.layers[0].path / "bin" / "tool"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o4755
    store.stats = WriteStats()
    assert write_image(store, config, [tar], ["mini:1"]).id == image.id
    assert store.stats.layers_unpacked == 0
    with tarfile.open(tar) as t:
        assert "./bin/tool" in t.getnames()
    # A compressed tar is not what write_image takes: refused, nothing stored.
    imagebuild.run(["gzip", "-k", str(tar)])
    before = snapshot(store.root)
    with pytest.raises(InvalidImage, match="diff_id"):
        write_image(store, config, [Path(f"{tar}.gz")], ["mini:gz"])
    assert snapshot(store.root) == before
    assert list(store.tmp.iterdir()) == []


def test_a_killed_writer_leaves_a_stale_staging_area_the_next_open_removes(
        hardbox_root: Path) -> None:
    script = (
        "import os; from hardbox.image.store.store import Store\n"
        "s = Store.open(); cm = s.staging(); p = cm.__enter__(); (p / 'half-a-blob').write_bytes(b'x')\n"
        "print(p, flush=True); os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=os.environ.copy())
    assert proc.returncode == -signal.SIGKILL
    stale = Path(proc.stdout.strip())
    assert stale.is_dir()
    store = Store.open()
    assert list(store.tmp.iterdir()) == []
    # A live staging area (its lock held) survives another open.
    with store.staging() as live:
        Store.open()
        assert live.is_dir()


def test_open_image_serves_stored_names_transports_and_dirs(
        store: Store, busybox_archive: Path, busybox_layout: imagebuild.OciImage) -> None:
    from hardbox.image.source import open_image

    stored = import_path(store, busybox_archive)[0]
    with open_image("bbtest", store) as view:
        assert view.manifest_digest == stored.manifest_digest
    with open_image(f"oci:{busybox_layout.layout}:latest", store) as view:
        assert view.id == stored.id
        temporary = view.layers[0].path
        assert (temporary / "bin" / "busybox").is_file()
        assert store.tmp in temporary.parents  # not in the real store
    assert not temporary.exists()
    assert list(store.tmp.iterdir()) == []
    assert [im.manifest_digest for im in store.images()] == [stored.manifest_digest]
    with open_image(f"dir:{stored.layers[0].path}", store) as view:
        assert [la.path for la in view.layers] == [stored.layers[0].path]
        assert view.config.diff_ids == () and view.config.cmd == ()


def test_resolution_order_and_ambiguous_prefixes(tmp_path: Path) -> None:
    from hardbox.image.store.images import ImageRecord
    from hardbox.image.store.resolve import resolve

    m1, m2, m3 = ("sha256:" + c * 64 for c in "123")
    c1, c2 = "sha256:abc1" + "0" * 60, "sha256:abc2" + "0" * 60
    records = {m1: ImageRecord(m1, c1, (), "t"), m2: ImageRecord(m2, c2, (), "t"),
               m3: ImageRecord(m3, c1, (), "t")}
    tags = {"docker.io/library/abc:latest": m2}
    assert resolve("abc", records, tags, tmp_path) == m2  # a tag beats an id prefix
    assert resolve("abc1", records, tags, tmp_path) == m1  # one id, two manifests: either
    assert resolve(c2, records, tags, tmp_path) == m2
    assert resolve(f"abc@{m3}", records, tags, tmp_path) == m3
    with pytest.raises(InvalidReference, match="ambiguous: it matches 2 images"):
        resolve("sha256:ab", records, tags, tmp_path)
    with pytest.raises(ImageNotFound):
        resolve("abc3", records, tags, tmp_path)
