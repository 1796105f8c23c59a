"""Round trips with the peers, both ways: hardbox imports what skopeo, umoci and buildah
write, and what hardbox exports is accepted by ``skopeo inspect``, ``skopeo copy`` and
``umoci ls``/``umoci unpack``. The multi-platform index is built for real by buildah
(``buildah manifest create/add/push --all``), one image per architecture."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_root, need_tool

BUSYBOX = Path("/bin/busybox")


def skopeo_inspect(name: str) -> dict[str, object]:
    return json.loads(imagebuild.run(["skopeo", "inspect", name]).stdout)


def stored(ref: str) -> dict[str, object]:
    return json.loads(hardbox("image", "inspect", ref, "--json", check=True).stdout)


@pytest.fixture
def imported(busybox_archive: Path, hardbox_root: Path) -> dict[str, object]:
    need_tool("skopeo", "umoci")
    hardbox("image", "import", str(busybox_archive), check=True)
    return stored("bbtest")


@pytest.mark.slow
def test_exported_docker_archive_is_read_by_skopeo_and_unpacked_by_umoci(
        imported: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "out.tar"
    hardbox("image", "export", "bbtest", "-o", str(out), check=True)
    info = skopeo_inspect(f"docker-archive:{out}")
    layers = imported["layers"]
    assert isinstance(layers, list)
    assert info["Layers"] == [la["diff_id"] for la in layers]
    assert info["Architecture"] == imported["config"]["architecture"]  # type: ignore[index]
    imagebuild.run(["skopeo", "copy", "-q", f"docker-archive:{out}", f"oci:{tmp_path}/via:x"])
    imagebuild.run(["umoci", "unpack", "--image", f"{tmp_path}/via:x", str(tmp_path / "bundle")])
    assert (tmp_path / "bundle/rootfs/bin/busybox").read_bytes() == BUSYBOX.read_bytes()
    # And back: the same image id (config digest) comes home.
    hardbox("image", "rm", "bbtest", check=True)
    hardbox("image", "import", str(out), check=True)
    assert stored("bbtest")["id"] == imported["id"]


@pytest.mark.slow
def test_exported_oci_layout_is_listed_and_unpacked_by_umoci(
        imported: dict[str, object], busybox_layout: imagebuild.OciImage, tmp_path: Path) -> None:
    out = tmp_path / "layout"
    hardbox("image", "export", "bbtest", "-o", str(out), "--format", "oci", check=True)
    hardbox("image", "import", str(busybox_layout.layout), check=True)
    hardbox("image", "tag", "layout:latest", "other:v2", check=True)
    hardbox("image", "export", "other:v2", "-o", str(out), "--format", "oci", check=True)
    assert sorted(imagebuild.run(["umoci", "ls", "--layout", str(out)]).stdout.split()) == [
        "latest", "v2"]
    imagebuild.run(["umoci", "unpack", "--image", f"{out}:latest", str(tmp_path / "bundle")])
    assert (tmp_path / "bundle/rootfs/bin/busybox").read_bytes() == BUSYBOX.read_bytes()
    config = json.loads((tmp_path / "bundle/config.json").read_text())
    assert config["process"]["args"] == ["/bin/sh"] and config["process"]["user"]["uid"] == 1000
    # The umoci-made image keeps its manifest digest through hardbox.
    assert skopeo_inspect(f"oci:{out}:v2")["Digest"] == stored("other:v2")["manifest_digest"]


@pytest.mark.slow
def test_exported_oci_archive_is_read_by_skopeo_and_comes_back(
        imported: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "bb-oci.tar"
    hardbox("image", "export", imported["id"][7:19], "-o", str(out),  # type: ignore[index]
            "--format", "oci-archive", check=True)
    info = skopeo_inspect(f"oci-archive:{out}:latest")
    assert info["Layers"] == [la["digest"] for la in imported["layers"]]  # type: ignore[attr-defined]
    hardbox("image", "rm", "bbtest", check=True)
    out_import = hardbox("image", "import", str(out), check=True).stdout
    assert "docker.io/library/bb-oci:latest" in out_import
    assert stored("bb-oci")["id"] == imported["id"]


@pytest.mark.slow
def test_imports_what_skopeo_writes(busybox_layout: imagebuild.OciImage, tmp_path: Path,
                                    hardbox_root: Path) -> None:
    need_tool("skopeo")
    src = f"oci:{busybox_layout.ref}"
    imagebuild.run(["skopeo", "copy", "-q", src, f"oci-archive:{tmp_path}/a.tar:v1"])
    imagebuild.run(["skopeo", "copy", "-q", "--additional-tag", "bb:extra", src,
                    f"docker-archive:{tmp_path}/d.tar:quay.io/acme/bb:7"])
    imagebuild.run(["skopeo", "copy", "-q", "--dest-compress-format", "zstd", src,
                    f"oci:{tmp_path}/zstd:z"])
    for path in ("a.tar", "d.tar", "docker-archive:" + str(tmp_path / "d.tar"), "zstd"):
        target = path if ":" in path else str(tmp_path / path)
        hardbox("image", "import", target, check=True)
    listing = json.loads(hardbox("image", "ls", "--json", check=True).stdout)
    assert sorted(t for im in listing for t in im["tags"]) == [
        "docker.io/library/a:v1", "docker.io/library/bb:extra", "docker.io/library/zstd:z",
        "quay.io/acme/bb:7"]
    assert len({im["id"] for im in listing}) == 1
    zstd = stored("zstd:z")
    assert zstd["layers"][0]["diff_id"] == stored("a:v1")["layers"][0]["diff_id"]  # type: ignore[index]


@pytest.mark.slow
def test_multi_image_layout_imports_every_ref_name_or_the_one_asked_for(
        busybox_layout: imagebuild.OciImage, tmp_path: Path, hardbox_root: Path) -> None:
    need_tool("skopeo", "umoci")
    layout = tmp_path / "multi"
    src = f"oci:{busybox_layout.ref}"
    imagebuild.run(["skopeo", "copy", "-q", src, f"oci:{layout}:latest"])
    imagebuild.run(["skopeo", "copy", "-q", src, f"oci:{layout}:quay.io/acme/app:2"])
    image = imagebuild.OciImage.__new__(imagebuild.OciImage)
    image.layout, image.tag = layout, "edge"
    imagebuild.run(["umoci", "tag", "--image", f"{layout}:latest", "edge"])
    image.add_layer(lambda root: (root / "etc" / "edge").write_text("1\n"), "touch /etc/edge")
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 3
    out = hardbox("image", "import", f"{layout}:edge", check=True).stdout
    assert "docker.io/library/multi:edge" in out and "latest" not in out
    hardbox("image", "import", str(layout), check=True)
    listing = json.loads(hardbox("image", "ls", "--json", check=True).stdout)
    assert sorted(t for im in listing for t in im["tags"]) == [
        "docker.io/library/multi:edge", "docker.io/library/multi:latest", "quay.io/acme/app:2"]
    assert len(stored("multi:edge")["layers"]) == 2  # type: ignore[arg-type]
    missing = hardbox("image", "import", f"{layout}:nope")
    assert missing.returncode == 2 and "no image named 'nope'" in missing.stderr


@pytest.fixture(scope="module")
def multi_platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout whose one ref points at an image index of linux/amd64 and linux/arm64
    images, each with /etc/arch naming its architecture. Built by buildah, pushed --all."""
    need_tool("buildah")
    need_root()
    work = tmp_path_factory.mktemp("multiarch")
    buildah = ["buildah", "--storage-driver", "vfs", "--root", str(work / "root"),
               "--runroot", str(work / "run")]
    imagebuild.run([*buildah, "manifest", "create", "bblist"])
    for arch in ("amd64", "arm64"):
        marker = work / f"arch-{arch}"
        marker.write_text(f"{arch}\n")
        ctr = imagebuild.run([*buildah, "from", "--arch", arch, "scratch"]).stdout.split()[-1]
        imagebuild.run([*buildah, "copy", ctr, str(BUSYBOX), "/bin/busybox"])
        imagebuild.run([*buildah, "copy", ctr, str(marker), "/etc/arch"])
        imagebuild.run([*buildah, "config", "--arch", arch, "--os", "linux",
                        "--cmd", "/bin/busybox sh", ctr])
        image_id = imagebuild.run([*buildah, "commit", "-q", ctr, f"bb-{arch}"]).stdout.strip()
        imagebuild.run([*buildah, "manifest", "add", "bblist", image_id])
    layout = work / "multiarch"
    imagebuild.run([*buildah, "manifest", "push", "-q", "--all", "bblist", f"oci:{layout}:latest"])
    return layout


@pytest.mark.slow
@pytest.mark.root
def test_multi_platform_index_takes_the_host_platform_or_the_one_asked_for(
        multi_platform: Path, tmp_path: Path, hardbox_root: Path) -> None:
    top = json.loads((multi_platform / "index.json").read_text())["manifests"]
    assert [d["mediaType"] for d in top] == ["application/vnd.oci.image.index.v1+json"]
    host = subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip()
    host_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host)
    if host_arch is None:
        pytest.skip(f"the index holds amd64 and arm64 only; this host is {host}")
    hardbox("image", "import", str(multi_platform), check=True)
    image = stored("multiarch")
    assert image["config"]["architecture"] == host_arch  # type: ignore[index]
    other = "arm64" if host_arch == "amd64" else "amd64"
    hardbox("image", "import", str(multi_platform), "--platform", f"linux/{other}",
            "--tag", f"bb:{other}", check=True)
    chosen = stored(f"bb:{other}")
    assert chosen["config"]["architecture"] == other  # type: ignore[index]
    layer_dir = Path(str(hardbox_root)) / "layers" / chosen["layers"][-1]["diff_id"][7:]  # type: ignore[index]
    assert (layer_dir / "etc" / "arch").read_text() == f"{other}\n"
    refused = hardbox("image", "import", str(multi_platform), "--platform", "linux/s390x")
    assert refused.returncode == 2
    assert "no manifest for platform linux/s390x (offered: linux/amd64, linux/arm64)" in refused.stderr
    # skopeo copies the whole index into an OCI archive; that imports the same way.
    archive = tmp_path / "multi.tar"
    imagebuild.run(["skopeo", "copy", "-q", "--all", f"oci:{multi_platform}:latest",
                    f"oci-archive:{archive}:latest"])
    hardbox("image", "import", str(archive), "--platform", f"linux/{other}", check=True)
    assert stored("multi:latest")["id"] == chosen["id"]
