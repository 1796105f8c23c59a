"""The OCI/Docker models accept what umoci and skopeo write and refuse damaged documents
with one line naming the file and the field. Damaged documents are made by mutating the
real ones, never written by hand."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import imagebuild

from hardbox.errors import InvalidImage, UsageError
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.manifest import DOCKER_MANIFEST, OCI_MANIFEST, Index, Manifest
from hardbox.image.formats.platform import Platform

Doc = dict[str, Any]


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


@pytest.fixture(scope="module")
def documents(busybox_layout: imagebuild.OciImage) -> tuple[bytes, bytes, bytes]:
    """(index.json, manifest, config) exactly as umoci wrote them."""
    layout = busybox_layout.layout
    index = (layout / "index.json").read_bytes()
    desc = json.loads(index)["manifests"][0]
    manifest = _blob(layout, desc["digest"])
    config = _blob(layout, json.loads(manifest)["config"]["digest"])
    return index, manifest, config


def test_reads_the_manifest_umoci_wrote(documents: tuple[bytes, bytes, bytes]) -> None:
    _, raw, _ = documents
    manifest = Manifest.from_json(raw, "m.json")
    assert manifest.media_type == OCI_MANIFEST
    assert len(manifest.layers) == 1
    assert manifest.layers[0].media_type.endswith("tar+gzip")
    assert manifest.config.digest.startswith("sha256:")
    # Nothing is lost: what we would write back is what we read (umoci omits the optional
    # top-level mediaType, which OCI 1.0 allows; we fill in the one it implies).
    for key in ("schemaVersion", "config", "layers"):
        assert manifest.to_obj()[key] == json.loads(raw)[key]


def test_reads_the_config_umoci_wrote(documents: tuple[bytes, bytes, bytes]) -> None:
    _, _, raw = documents
    config = ImageConfig.from_json(raw, "c.json")
    assert (config.os, config.architecture) == ("linux", Platform.host().architecture)
    assert config.user == "1000"
    assert config.cmd == ("/bin/sh",)
    assert config.working_dir == "/"
    assert config.entrypoint == ()
    assert len(config.diff_ids) == 1
    assert [h.created_by for h in config.history] == ["COPY busybox-static /", "umoci config"]
    assert [h.empty_layer for h in config.history] == [False, True]
    assert config.layer_history()[0] is config.history[0]
    assert config.raw == json.loads(raw)


def test_reads_the_index_and_its_ref_names(documents: tuple[bytes, bytes, bytes]) -> None:
    index_raw, _, _ = documents
    index = Index.from_json(index_raw, "index.json")
    assert [d.ref_name for d in index.manifests] == ["latest"]


def _mutate(raw: bytes, change: Callable[[Doc], object]) -> bytes:
    doc = copy.deepcopy(json.loads(raw))
    change(doc)
    return json.dumps(doc).encode()


MANIFEST_DAMAGE: list[tuple[str, Callable[[Doc], object], str]] = [
    ("schema", lambda d: d.update(schemaVersion=1), "m.json: schemaVersion must be 2"),
    ("no config", lambda d: d.pop("config"), "m.json: config must be an object"),
    ("bad digest", lambda d: d["layers"][0].update(digest="sha256:xyz"),
     "m.json: layers[0].digest is not a sha256 digest"),
    ("md5 digest", lambda d: d["config"].update(digest="md5:" + "0" * 32),
     "m.json: config.digest is not a sha256 digest"),
    ("negative size", lambda d: d["layers"][0].update(size=-1),
     "m.json: layers[0].size must not be negative"),
    ("size as text", lambda d: d["layers"][0].update(size="12"),
     "m.json: layers[0].size must be an integer"),
    ("layer type", lambda d: d["layers"][0].update(mediaType="text/html"),
     "m.json: layers[0].mediaType is not a supported layer type"),
    ("config type", lambda d: d["config"].update(mediaType=d["layers"][0]["mediaType"]),
     "m.json: config.mediaType is not an image config type"),
    ("layers missing", lambda d: d.pop("layers"), "m.json: layers is missing"),
    ("index", lambda d: d.update(mediaType="application/vnd.oci.image.index.v1+json"),
     "m.json: is an image index"),
]


def test_docker_schema2_media_type_is_a_manifest(documents: tuple[bytes, bytes, bytes]) -> None:
    raw = _mutate(documents[1], lambda d: d.update(mediaType=DOCKER_MANIFEST))
    assert Manifest.from_json(raw, "m.json").media_type == DOCKER_MANIFEST


CONFIG_DAMAGE: list[tuple[str, Callable[[Doc], object], str]] = [
    ("env type", lambda d: d["config"].update(Env="PATH=/bin"), "c.json: config.Env must be a list"),
    ("env item", lambda d: d["config"].update(Env=["A=1", 2]), "c.json: config.Env[1] must be a string"),
    ("user", lambda d: d["config"].update(User=0), "c.json: config.User must be a string"),
    ("labels", lambda d: d["config"].update(Labels={"a": 1}), "c.json: config.Labels['a'] must be a string"),
    ("rootfs", lambda d: d.pop("rootfs"), "c.json: rootfs is missing"),
    ("rootfs type", lambda d: d["rootfs"].update(type="tarballs"), "c.json: rootfs.type must be 'layers'"),
    ("diff_id", lambda d: d["rootfs"]["diff_ids"].append("sha256:00"),
     "c.json: rootfs.diff_ids[1] is not a sha256 digest"),
    ("os", lambda d: d.pop("os"), "c.json: os is missing"),
    ("history", lambda d: d["history"].append("RUN x"), "c.json: history[2] must be an object"),
    ("empty_layer", lambda d: d["history"][0].update(empty_layer="yes"),
     "c.json: history[0].empty_layer must be true or false"),
    ("healthcheck", lambda d: d["config"].update(Healthcheck={"Test": "CMD true"}),
     "c.json: config.Healthcheck.Test must be a list"),
]


# Which of ``documents`` each kind is, and its parser (the file name the messages give is
# the case's own, "m.json" or "c.json").
PARSERS: dict[str, tuple[int, Callable[[bytes, str], object], str]] = {
    "manifest": (1, Manifest.from_json, "m.json"),
    "config": (2, ImageConfig.from_json, "c.json"),
}
DAMAGE = [("manifest", *case) for case in MANIFEST_DAMAGE] + \
    [("config", *case) for case in CONFIG_DAMAGE]


@pytest.mark.parametrize(("kind", "case", "change", "message"), DAMAGE,
                         ids=[f"{kind}-{case}" for kind, case, _, _ in DAMAGE])
def test_refuses_damaged_documents(documents: tuple[bytes, bytes, bytes], kind: str, case: str,
                                   change: Callable[[Doc], object], message: str) -> None:
    which, parse, name = PARSERS[kind]
    with pytest.raises(InvalidImage) as err:
        parse(_mutate(documents[which], change), name)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)  # one line, as every user-facing error


@pytest.mark.parametrize("raw", [b"", b"\x1f\x8b\x08garbage", b"[1, 2]", b'{"a": ', b"\xff\xfe"])
def test_refuses_what_is_not_a_json_object(raw: bytes) -> None:
    with pytest.raises(InvalidImage, match=r"^m.json: (not valid JSON|expected a JSON object)"):
        Manifest.from_json(raw, "m.json")


def test_docker_style_nulls_and_full_config(documents: tuple[bytes, bytes, bytes]) -> None:
    def fill(d: Doc) -> None:
        d["config"].update(
            Cmd=None, Entrypoint=["/init", "--"], Env=["A=1"], ExposedPorts={"80/tcp": {}},
            Volumes={"/data": {}}, Labels={"x": "y"}, StopSignal="SIGTERM",
            Healthcheck={"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000, "Retries": 3},
        )

    config = ImageConfig.from_json(_mutate(documents[2], fill), "c.json")
    assert config.cmd == ()
    assert config.entrypoint == ("/init", "--")
    assert config.exposed_ports == ("80/tcp",) and config.volumes == ("/data",)
    assert config.labels == {"x": "y"} and config.stop_signal == "SIGTERM"
    assert config.healthcheck is not None and config.healthcheck.retries == 3
    assert config.healthcheck.test == ("CMD-SHELL", "true")


def test_platform_parsing_and_matching() -> None:
    assert str(Platform.parse("linux/arm/v7")) == "linux/arm/v7"
    for bad in ("linux", "linux/", "a/b/c/d", "/amd64"):
        with pytest.raises(UsageError):
            Platform.parse(bad)
    arm64 = Platform("linux", "arm64")
    assert Platform.parse("linux/arm64").matches(arm64)
    assert Platform.parse("linux/arm64/v8").matches(arm64)  # arm64 means arm64/v8
    assert not Platform.parse("linux/arm/v7").matches(Platform("linux", "arm", "v6"))
    assert Platform.parse("linux/arm").matches(Platform("linux", "arm", "v6"))
    assert not Platform.parse("windows/amd64").matches(Platform("linux", "amd64"))
    assert Platform.host().os == "linux"


def test_index_picks_the_platform_or_names_what_is_offered(
        documents: tuple[bytes, bytes, bytes]) -> None:
    index = json.loads(documents[0])
    entry = index["manifests"][0]
    index["manifests"] = [
        {**entry, "platform": {"os": "linux", "architecture": "arm64"}},
        {**entry, "digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
    ]
    parsed = Index.from_json(json.dumps(index).encode(), "index.json")
    assert parsed.for_platform(Platform("linux", "amd64"), "i").digest == "sha256:" + "1" * 64
    assert parsed.for_platform(Platform.parse("linux/arm64/v8"), "i").digest == entry["digest"]
    with pytest.raises(InvalidImage, match=r"^i: no manifest for platform linux/s390x "
                       r"\(offered: linux/arm64, linux/amd64\)"):
        parsed.for_platform(Platform("linux", "s390x"), "i")
