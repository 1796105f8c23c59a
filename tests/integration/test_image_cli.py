"""``hardbox image`` as a user runs it: listing shapes, history, tag/rm/prune, and hostile
archives refused with exit 2 and one line, leaving the store exactly as it was.

Every hostile input is made by damaging a real archive or layout that skopeo or umoci wrote.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import imagebuild
from helpers.cli import hardbox
from helpers.terminal import stderr_on_a_terminal

Members = dict[str, bytes]


# -- helpers: damaging real images --------------------------------------------------------


def edit_docker_archive(src: Path, dst: Path, edit: Callable[[Members], object]) -> Path:
    """Rewrite a docker archive with ``edit`` applied to its members (name -> bytes)."""
    with tarfile.open(src) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    edit(members)
    with tarfile.open(dst, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dst


def docker_config_name(members: Members) -> str:
    return str(json.loads(members["manifest.json"])[0]["Config"])


def edit_docker_config(members: Members, change: Callable[[dict[str, Any]], object]) -> None:
    name = docker_config_name(members)
    doc = json.loads(members[name])
    change(doc)
    members[name] = json.dumps(doc).encode()


def blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":")[1]


def put_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob(layout, digest).write_bytes(data)
    return digest, len(data)


def manifest_of(layout: Path) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    return json.loads(blob(layout, index["manifests"][0]["digest"]).read_bytes())


def set_manifest(layout: Path, raw: bytes) -> None:
    """Store ``raw`` as the manifest and point index.json at it (digest and size valid)."""
    digest, size = put_blob(layout, raw)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(digest=digest, size=size)
    (layout / "index.json").write_text(json.dumps(index))


def copy_layout(layout: Path, dst: Path) -> Path:
    shutil.copytree(layout, dst, symlinks=True)
    return dst


def assert_store_untouched(root: Path) -> None:
    """A refused import left nothing: no blob, layer, record or tag, and no temp files."""
    for sub in ("blobs/sha256", "layers", "images", "tmp"):
        assert list((root / sub).iterdir()) == [], sub
    tags = root / "tags.json"
    assert not tags.exists() or json.loads(tags.read_text()) == {}


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("hardbox: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("  hint: ") for line in lines[1:]), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# -- hostile input ------------------------------------------------------------------------


def _layer_digest_flipped(layout: Path) -> tuple[str, ...]:
    layer = blob(layout, manifest_of(layout)["layers"][0]["digest"])
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.write_bytes(bytes(data))
    return ("digest mismatch", layer.name)


def _layer_blob_missing(layout: Path) -> tuple[str, ...]:
    digest = manifest_of(layout)["layers"][0]["digest"]
    blob(layout, digest).unlink()
    return ("layers[0]", "names blob " + digest, "missing")


def _manifest_not_json(layout: Path) -> tuple[str, ...]:
    set_manifest(layout, b"<html>not a manifest</html>")
    return ("not valid JSON", "blobs/sha256/")


def _manifest_invalid(layout: Path) -> tuple[str, ...]:
    manifest = manifest_of(layout)
    manifest["layers"][0]["mediaType"] = "application/x-unknown"
    set_manifest(layout, json.dumps(manifest).encode())
    return ("layers[0].mediaType is not a supported layer type",)


def _gzip_truncated(layout: Path) -> tuple[str, ...]:
    manifest = manifest_of(layout)
    layer = blob(layout, manifest["layers"][0]["digest"])
    digest, size = put_blob(layout, layer.read_bytes()[: layer.stat().st_size // 2])
    manifest["layers"][0].update(digest=digest, size=size)
    set_manifest(layout, json.dumps(manifest).encode())
    return ("truncated", digest.split(":")[1])


def _config_digest_mismatch(layout: Path) -> tuple[str, ...]:
    config = blob(layout, manifest_of(layout)["config"]["digest"])
    config.write_bytes(config.read_bytes().replace(b'"1000"', b'"0000"'))
    return ("digest mismatch", config.name)


LAYOUT_DAMAGE = {
    "layer digest mismatch": _layer_digest_flipped,
    "missing layer blob": _layer_blob_missing,
    "manifest not JSON": _manifest_not_json,
    "manifest fails validation": _manifest_invalid,
    "truncated gzip layer": _gzip_truncated,
    "config digest mismatch": _config_digest_mismatch,
}


@pytest.mark.parametrize("case", sorted(LAYOUT_DAMAGE))
def test_damaged_oci_layouts_are_refused_and_leave_nothing(
        case: str, busybox_layout: imagebuild.OciImage, tmp_path: Path, hardbox_root: Path) -> None:
    layout = copy_layout(busybox_layout.layout, tmp_path / "layout")
    needles = LAYOUT_DAMAGE[case](layout)
    proc = hardbox("image", "import", str(layout))
    assert_refused(proc, str(layout), *needles)
    assert_store_untouched(hardbox_root)


def _diff_id_mismatch(members: Members) -> tuple[str, ...]:
    edit_docker_config(members, lambda c: c["rootfs"].update(diff_ids=["sha256:" + "e" * 64]))
    return ("diff_id", "sha256:" + "e" * 64)


def _config_invalid(members: Members) -> tuple[str, ...]:
    edit_docker_config(members, lambda c: c["config"].update(Env="PATH=/bin"))
    return ("config.Env must be a list", ".json")


def _manifest_json_garbage(members: Members) -> tuple[str, ...]:
    members["manifest.json"] = b"{{{"
    return ("manifest.json", "not valid JSON")


def _layer_file_missing(members: Members) -> tuple[str, ...]:
    layer = json.loads(members["manifest.json"])[0]["Layers"][0]
    del members[layer]
    return ("manifest.json names layer", layer)


def _layer_not_a_tar(members: Members) -> tuple[str, ...]:
    layer = json.loads(members["manifest.json"])[0]["Layers"][0]
    members[layer] = b"this is not a tar stream " * 100
    edit_docker_config(members, lambda c: c["rootfs"].update(
        diff_ids=["sha256:" + hashlib.sha256(members[layer]).hexdigest()]))
    return (layer,)


ARCHIVE_DAMAGE = {
    "diff_id mismatch": _diff_id_mismatch,
    "config fails validation": _config_invalid,
    "manifest.json not JSON": _manifest_json_garbage,
    "layer file missing": _layer_file_missing,
    "layer not a tar": _layer_not_a_tar,
}


@pytest.mark.parametrize("case", sorted(ARCHIVE_DAMAGE))
def test_damaged_docker_archives_are_refused_and_leave_nothing(
        case: str, busybox_archive: Path, tmp_path: Path, hardbox_root: Path) -> None:
    needles: tuple[str, ...] = ()

    def edit(members: Members) -> None:
        nonlocal needles
        needles = ARCHIVE_DAMAGE[case](members)

    archive = edit_docker_archive(busybox_archive, tmp_path / "bad.tar", edit)
    proc = hardbox("image", "import", str(archive))
    assert_refused(proc, str(archive), *needles)
    assert_store_untouched(hardbox_root)


def test_truncated_archive_and_non_tar_are_refused(busybox_archive: Path, tmp_path: Path,
                                                   hardbox_root: Path) -> None:
    cut = tmp_path / "cut.tar"
    cut.write_bytes(busybox_archive.read_bytes()[: busybox_archive.stat().st_size * 2 // 3])
    assert_refused(hardbox("image", "import", str(cut)), str(cut))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(4096))
    assert_refused(hardbox("image", "import", str(junk)), str(junk), "not a tar archive (nor one compressed with gzip, bzip2 or xz")
    assert_refused(hardbox("image", "import", str(tmp_path / "absent.tar")), "absent.tar")
    assert_store_untouched(hardbox_root)


def test_a_refused_import_leaves_an_existing_store_exactly_as_it_was(
        busybox_archive: Path, busybox_layout: imagebuild.OciImage, tmp_path: Path,
        hardbox_root: Path) -> None:
    hardbox("image", "import", str(busybox_archive), check=True)

    def listing() -> dict[str, int]:
        return {str(p.relative_to(hardbox_root)): p.lstat().st_ino
                for p in hardbox_root.rglob("*") if "tmp" not in p.parts}

    before = listing()
    layout = copy_layout(busybox_layout.layout, tmp_path / "layout")
    _layer_digest_flipped(layout)
    assert_refused(hardbox("image", "import", str(layout), "--tag", "evil:1"), "digest mismatch")
    assert listing() == before
    assert list((hardbox_root / "tmp").iterdir()) == []
    assert "docker.io/library/evil:1" not in json.loads((hardbox_root / "tags.json").read_text())


# -- listing, history, tag, rm, prune -----------------------------------------------------


def test_image_alone_prints_help() -> None:
    proc = hardbox("image")
    assert proc.returncode == 0
    for sub in ("import", "ls", "inspect", "history", "tag", "rm", "prune", "export"):
        assert sub in proc.stdout


def test_ls_and_inspect_json_shapes(busybox_archive: Path, hardbox_root: Path) -> None:
    proc = hardbox("image", "import", str(busybox_archive), check=True)
    assert proc.stderr == ""  # not a terminal: no progress
    assert "docker.io/library/bbtest:latest" in proc.stdout
    listing = json.loads(hardbox("image", "ls", "--json", check=True).stdout)
    assert len(listing) == 1
    item = listing[0]
    assert set(item) == {"id", "manifest_digest", "tags", "size", "created"}
    assert item["tags"] == ["docker.io/library/bbtest:latest"]
    assert item["id"].startswith("sha256:") and item["size"] > 1_000_000
    inspected = json.loads(hardbox("image", "inspect", "bbtest", "--json", check=True).stdout)
    assert set(inspected) == {"id", "manifest_digest", "tags", "config", "layers"}
    assert inspected["id"] == item["id"]
    assert inspected["config"]["config"]["User"] == "1000"
    (layer,) = inspected["layers"]
    assert set(layer) == {"digest", "diff_id", "size", "created_by"}
    assert layer["diff_id"] == inspected["config"]["rootfs"]["diff_ids"][0]
    assert layer["created_by"] == "COPY busybox-static /"
    human = hardbox("image", "ls", check=True).stdout.splitlines()
    assert human[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"]
    assert human[1].split()[:3] == ["bbtest", "latest", item["id"][7:19]]
    assert "Cmd:" in hardbox("image", "inspect", item["id"][7:15], check=True).stdout


def test_history_shows_every_entry_newest_first(busybox_layout: imagebuild.OciImage,
                                                tmp_path: Path, hardbox_root: Path) -> None:
    layout = copy_layout(busybox_layout.layout, tmp_path / "hist")
    image = imagebuild.OciImage.__new__(imagebuild.OciImage)
    image.layout, image.tag = layout, "latest"
    image.configure("--config.env=MODE=test")  # another empty entry
    image.add_layer(lambda root: (root / "etc" / "motd").write_text("hi\n"), "RUN echo hi > /etc/motd")
    hardbox("image", "import", str(layout), check=True)
    rows = json.loads(hardbox("image", "history", "hist", "--json", check=True).stdout)
    assert [r["created_by"] for r in rows] == [
        "RUN echo hi > /etc/motd", "umoci config", "umoci config", "COPY busybox-static /"]
    assert [r["empty_layer"] for r in rows] == [False, True, True, False]
    assert rows[1]["layer"] is None and rows[1]["size"] == 0
    inspected = json.loads(hardbox("image", "inspect", "hist", "--json", check=True).stdout)
    assert [r["layer"] for r in rows if r["layer"]] == [la["diff_id"] for la in reversed(inspected["layers"])]
    assert rows[0]["size"] == inspected["layers"][1]["size"] > 0
    human = hardbox("image", "history", "hist", check=True).stdout.splitlines()
    assert len(human) == 5 and "CREATED BY" in human[0] and "<none>" in human[2]


def test_tag_rm_and_prune(busybox_archive: Path, hardbox_root: Path) -> None:
    hardbox("image", "import", str(busybox_archive), check=True)
    hardbox("image", "tag", "bbtest", "quay.io/acme/bb:1", check=True)
    tags = json.loads(hardbox("image", "ls", "--json", check=True).stdout)[0]["tags"]
    assert tags == ["docker.io/library/bbtest:latest", "quay.io/acme/bb:1"]
    out = hardbox("image", "rm", "bbtest", check=True).stdout
    assert out.strip() == "Untagged: docker.io/library/bbtest:latest"
    assert (hardbox_root / "blobs" / "sha256").iterdir()
    proc = hardbox("image", "rm", "bbtest")
    assert proc.returncode == 2 and "no image 'bbtest'" in proc.stderr
    out = hardbox("image", "rm", "quay.io/acme/bb:1", check=True).stdout
    assert "Deleted: sha256:" in out
    for sub in ("blobs/sha256", "layers", "images"):
        assert list((hardbox_root / sub).iterdir()) == []
    assert "Deleted 0 untagged images, 0 blobs" in hardbox("image", "prune", check=True).stdout
    bad = hardbox("image", "tag", "nothing", "x:1")
    assert bad.returncode == 2


def test_progress_shows_on_a_terminal(busybox_archive: Path, hardbox_root: Path) -> None:
    status, seen = stderr_on_a_terminal("image", "import", str(busybox_archive))
    assert status == 0, seen
    assert b"importing" in seen and b"MB" in seen


# -- concurrency and kills (the Debian image: big enough to overlap and to interrupt) -----


@pytest.fixture(scope="module")
def debian_archive(debian_layout: imagebuild.OciImage, image_workdir: Path) -> Path:
    out = image_workdir / "debian.tar"
    if not out.exists():
        debian_layout.docker_archive(out, "debian:bookworm")
    return out


def _consistent(root: Path) -> None:
    for path in (root / "blobs" / "sha256").iterdir():
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        assert h.hexdigest() == path.name
    for meta in (root / "layers").glob("*.json"):
        assert meta.with_suffix("").is_dir()


@pytest.mark.slow
@pytest.mark.root
def test_two_concurrent_imports_leave_one_consistent_store(debian_archive: Path,
                                                           hardbox_root: Path) -> None:
    cmd = [sys.executable, "-m", "hardbox", "image", "import", str(debian_archive)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    listing = json.loads(hardbox("image", "ls", "--json", check=True).stdout)
    assert [im["tags"] for im in listing] == [["docker.io/library/debian:bookworm"]]
    assert len(list((hardbox_root / "layers").glob("*.json"))) == 1
    assert len(list((hardbox_root / "blobs" / "sha256").iterdir())) == 3
    assert list((hardbox_root / "tmp").iterdir()) == []
    _consistent(hardbox_root)


@pytest.mark.slow
@pytest.mark.root
def test_a_killed_import_leaves_no_tag_and_no_corrupt_blob(debian_archive: Path,
                                                           hardbox_root: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "hardbox", "image", "import", str(debian_archive)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Kill it mid-way: once the layer is being unpacked into the staging area.
    while time.monotonic() < deadline:
        staged = list((hardbox_root / "tmp").glob("*/layers/tmp-*/usr/bin"))
        if staged:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (hardbox_root / "tags.json").exists()
    assert list((hardbox_root / "images").iterdir()) == []
    assert list((hardbox_root / "layers").iterdir()) == []
    _consistent(hardbox_root)
    assert list((hardbox_root / "tmp").iterdir()) != []  # the dead import's staging area
    hardbox("image", "import", str(debian_archive), check=True)
    assert list((hardbox_root / "tmp").iterdir()) == []  # cleaned at the next open
    image = json.loads(hardbox("image", "inspect", "debian:bookworm", "--json", check=True).stdout)
    assert image["layers"][0]["size"] > 100_000_000
    _consistent(hardbox_root)
