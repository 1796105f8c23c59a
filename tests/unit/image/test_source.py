"""An IMAGE name is parsed once into an ``ImageSource``; what follows asks the parsed value.

The archive and layout are real (skopeo and umoci, conftest fixtures); the stored image is
imported from them into a real store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import imagebuild

from hardbox.errors import InvalidImage
from hardbox.image import source as sources
from hardbox.image.reference import Reference
from hardbox.image.source import (
    SOURCES,
    ArchiveSource,
    DirSource,
    RegistrySource,
    StoredSource,
    open_image,
    parse_source,
)
from hardbox.image.store.importer import import_path
from hardbox.image.store.store import Store


def test_each_name_is_parsed_into_its_source(busybox_archive: Path,
                                             busybox_layout: imagebuild.OciImage,
                                             tmp_path: Path) -> None:
    layout = busybox_layout.layout
    archive = parse_source(f"docker-archive:{busybox_archive}")
    assert isinstance(archive, ArchiveSource)
    assert (archive.transport.kind, archive.transport.path, archive.transport.ref) == (
        "docker-archive", busybox_archive, None)
    oci = parse_source(f"oci:{layout}:latest")
    assert isinstance(oci, ArchiveSource)
    assert (oci.transport.kind, oci.transport.path, oci.transport.ref) == ("oci", layout, "latest")
    bare = parse_source(str(busybox_archive))
    assert isinstance(bare, ArchiveSource) and bare.transport.kind == "path"
    rootfs = parse_source(f"dir:{tmp_path}")
    assert rootfs == DirSource(f"dir:{tmp_path}", tmp_path)
    assert not rootfs.has_config and not rootfs.stored
    stored = parse_source("quay.io/org/app:1.2")
    assert stored == StoredSource("quay.io/org/app:1.2", Reference("quay.io", "org/app", "1.2"))
    assert stored.stored and stored.has_config and not archive.stored
    # An id prefix is a name the store resolves; a name that is no reference is kept as given.
    assert isinstance(parse_source("sha256:abc1"), StoredSource)
    assert parse_source("Not/A/Reference") == StoredSource("Not/A/Reference", None)
    # docker:// (skopeo's spelling) is a registry image, normalised as Docker does.
    remote = parse_source("docker://bbtest")
    assert remote == RegistrySource("docker://bbtest",
                                    Reference("docker.io", "library/bbtest", "latest"))
    assert remote.stem == "bbtest-latest"


def test_pull_never_refuses_in_one_line_naming_the_reference(hardbox_root: Path) -> None:
    from hardbox.errors import ImageNotFound
    from hardbox.image.source import PullOptions

    never = PullOptions(policy="never")
    for name in ("docker://127.0.0.1:9/team/app:1", "127.0.0.1:9/team/app:1"):
        with pytest.raises(ImageNotFound, match=r"127\.0\.0\.1:9/team/app:1' in the store .*--pull never"), \
                open_image(name, Store.open(), pull=never):
            pass
    # Without PullOptions (a command that takes no registry image) nothing is tried.
    with pytest.raises(ImageNotFound, match="no image"), \
            open_image("127.0.0.1:9/team/app:1", Store.open()):
        pass


def test_a_name_clearly_meant_as_a_file_that_is_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImage, match="no such file or directory"):
        parse_source(f"oci-archive:{tmp_path}/missing.tar")
    with pytest.raises(InvalidImage, match="no such file or directory"):
        parse_source("./missing/app.tar")
    # An empty dir: would be the working directory, which the user never named.
    with pytest.raises(InvalidImage, match=r"dir:: names no directory"):
        parse_source("dir:")


@pytest.mark.parametrize(("name", "stem"), [
    ("bbtest", "bbtest-latest"),
    ("quay.io/org/app:1.2", "app-1.2"),
    ("localhost:5000/team/app@sha256:" + "a" * 64, "app-latest"),
    ("sha256:abc1", "sha256-abc1"),
])
def test_stored_stems(name: str, stem: str) -> None:
    assert parse_source(name).stem == stem


def test_file_stems(busybox_archive: Path, tmp_path: Path) -> None:
    assert parse_source(f"docker-archive:{busybox_archive}").stem == busybox_archive.name.removesuffix(".tar")
    assert parse_source(f"dir:{tmp_path}").stem == tmp_path.name


def test_a_parsed_source_opens_without_reading_the_name_again(
        hardbox_root: Path, busybox_layout: imagebuild.OciImage) -> None:
    store = Store.open()
    source = parse_source(f"oci:{busybox_layout.layout}:latest")
    assert isinstance(source, ArchiveSource)
    # The name is the user's text, for reports; opening goes by the parsed transport only.
    renamed = ArchiveSource("whatever the user typed", source.transport)
    with open_image(renamed, store) as view:
        assert (view.layers[0].path / "bin" / "busybox").is_file()
    stored = import_path(Store.open(), busybox_layout.layout)[0]
    with open_image(parse_source(stored.id[:19]), store) as view:
        assert view.manifest_digest == stored.manifest_digest


def test_stored_source_is_last_and_every_source_is_complete() -> None:
    assert SOURCES[-1] is StoredSource
    for kind in SOURCES:
        assert not getattr(kind, "__abstractmethods__", None), kind


@dataclass(frozen=True)
class _EchoSource(DirSource):
    """A transport only this test knows: ``echo:PATH`` opens PATH as a root filesystem."""

    @classmethod
    def parse(cls, name: str) -> _EchoSource | None:
        return cls(name, Path(name[5:])) if name.startswith("echo:") else None

    @property
    def stem(self) -> str:
        return "echo"


def test_a_new_transport_is_one_class_in_sources(monkeypatch: pytest.MonkeyPatch,
                                                 hardbox_root: Path, tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    monkeypatch.setattr(sources, "SOURCES", (_EchoSource, *SOURCES))
    source = parse_source(f"echo:{tmp_path}")
    assert isinstance(source, _EchoSource) and source.stem == "echo"
    with open_image(f"echo:{tmp_path}", Store.open()) as view:
        assert view.layers[0].path == tmp_path
