"""Fuzz the image readers: OCI layouts (index.json, manifest, config), docker-archive tars
(manifest.json, config) and oci-archive tars, through `hardbox image import` as a user runs
it. Every example must exit 0 or 2 with one line, and leave a consistent store."""

from __future__ import annotations

import itertools
import json
import tarfile
from pathlib import Path

import fuzzkit
import layouts
import mutate
import pytest
from hypothesis import given
from storecheck import assert_consistent

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()


def _import(target: str, root: Path, parser: str) -> fuzzkit.Outcome:
    out = fuzzkit.run_cli(["image", "import", target], root=root)
    fuzzkit.check(parser, out, allowed=(0, 2))
    assert_consistent(root)
    return out


@pytest.mark.parametrize("role", ["index", "manifest", "config"])
def test_oci_layout_documents(role: str, tiny_image, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    index, manifest, config = layouts.documents(tiny_image.layout)
    doc = {"index": index, "manifest": manifest, "config": config}[role]

    @fuzzkit.fuzz_settings()
    @given(data=mutate.json_document(doc))
    def one(data: bytes) -> None:
        layout = layouts.copy_layout(tiny_image.layout, tmp_path / f"layout-{next(_counter)}")
        layouts.replace_in_layout(layout, **{role: data})
        _import(str(layout), store_root, f"oci-layout {role}")

    one()


@pytest.mark.parametrize("role", ["manifest.json", "config"])
def test_docker_archive_documents(role: str, tiny_archives, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    src = tiny_archives["docker-archive"]
    with tarfile.open(src) as archive:
        entries = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(archive.extractfile(entries[0]["Config"]).read())  # type: ignore[union-attr]
    doc = entries if role == "manifest.json" else config

    @fuzzkit.fuzz_settings()
    @given(data=mutate.json_document(doc))
    def one(data: bytes) -> None:
        out = tmp_path / f"archive-{next(_counter)}.tar"
        if role == "manifest.json":
            layouts.rewrite_docker_archive(src, out, manifest_json=data)
        else:
            layouts.rewrite_docker_archive(src, out, config=data)
        _import(f"docker-archive:{out}", store_root, f"docker-archive {role}")

    one()


@pytest.mark.parametrize("kind", ["docker-archive", "oci-archive"])
def test_archive_bytes(kind: str, tiny_archives, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    """Byte damage anywhere in a whole archive: cut downloads, flipped bits, inserted junk."""
    data = tiny_archives[kind].read_bytes()

    @fuzzkit.fuzz_settings()
    @given(damaged=mutate.damaged_bytes(data))
    def one(damaged: bytes) -> None:
        out = tmp_path / f"{kind}-{next(_counter)}.tar"
        out.write_bytes(damaged)
        # Both the detecting form and the named transport.
        _import(str(out), store_root, f"{kind} bytes")
        _import(f"{kind}:{out}", store_root, f"{kind} bytes")

    one()


def test_oci_archive_documents(tiny_image, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    """An oci-archive is a layout in a tar: the same documents, one reader further away."""
    _, manifest, _ = layouts.documents(tiny_image.layout)

    @fuzzkit.fuzz_settings(0.5)
    @given(data=mutate.json_document(manifest))
    def one(data: bytes) -> None:
        n = next(_counter)
        layout = layouts.copy_layout(tiny_image.layout, tmp_path / f"layout-{n}")
        layouts.replace_in_layout(layout, manifest=data)
        out = layouts.tar_dir(layout, tmp_path / f"oci-{n}.tar")
        _import(f"oci-archive:{out}", store_root, "oci-archive manifest")

    one()
