"""The directly written CycloneDX JSON (``hardbox.scan.sbom.cyclonedx_json``) against the library it stands
in for: for the same catalog, cyclonedx-python-lib's own outputter must write the same document,
and the library's strict schema validator must accept ours."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers.layerdirs import DirImage, image_of, whiteout, write

from hardbox.scan.catalog_result import catalog_image
from hardbox.scan.sbom.cyclonedx import build_bom, serialize_cyclonedx
from hardbox.scan.sbom.cyclonedx_json import cyclonedx_json

pytestmark = pytest.mark.root


def identified(image: DirImage) -> DirImage:
    return dataclasses.replace(
        image,
        id="sha256:" + "ab" * 32,
        manifest_digest="sha256:" + "cd" * 32,
        tags=("registry.example:5000/team/app:1.0", "app:latest"),
    )


def both(image: DirImage, with_files: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ours, the library's), parsed, with the one field that differs by design removed: the
    timestamp is "now" for an image without a creation time."""
    result = catalog_image(image)
    text = cyclonedx_json(image, result, with_files=with_files)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    ours = json.loads(text)
    theirs = json.loads(
        serialize_cyclonedx(build_bom(image, result, with_files=with_files), "cyclonedx-json")
    )
    for doc in (ours, theirs):
        doc["metadata"].pop("timestamp")
    for component in theirs.get("components", []):
        # The library keeps occurrences in a set ordered by an unnamed bom-ref first, which
        # compares neither less nor equal: its order is arbitrary. Ours is sorted.
        if "evidence" in component:
            component["evidence"]["occurrences"].sort(
                key=lambda o: (o["location"], o.get("additionalContext", ""))
            )
    return ours, theirs


@pytest.mark.parametrize("with_files", [False, True])
def test_minbase_document_equals_the_library_one(debian_rootfs: Path, with_files: bool) -> None:
    image = identified(image_of(debian_rootfs, created_by=("debootstrap --variant=minbase",)))
    ours, theirs = both(image, with_files)
    assert ours == theirs
    libc = next(c for c in ours["components"] if c["name"] == "libc6")
    locations = [o["location"] for o in libc["evidence"]["occurrences"]]
    assert locations == sorted(locations) and len(locations) == len(set(locations))
    if with_files:
        assert "/lib/x86_64-linux-gnu/libc.so.6" in locations


def test_odd_catalog_equals_the_library_one(tmp_path: Path) -> None:
    """Everything the shape varies on: no OS, a partial dpkg database, a scoped npm package
    (CycloneDX group), an SPDX expression, several licenses of which one would be an
    expression alone, the same purl twice (bom-ref suffixes), a package an overlayfs
    whiteout deleted."""
    old, new = tmp_path / "l0", tmp_path / "l1"
    write(
        old,
        "var/lib/dpkg/status",
        "Package: ok\nVersion: 1:2.0~rc1-1\nArchitecture: all\nSource: ok-src (2.0)\n\n"
        "Package: broken\n",
    )
    manifest = {"name": "@scope/pkg", "version": "1.2.3", "license": "(MIT OR Apache-2.0)"}
    write(old, "srv/node_modules/@scope/pkg/package.json", json.dumps(manifest))
    legacy = {
        "name": "multi",
        "version": "0.1.0",
        "licenses": [{"type": "mit"}, {"type": "GPL-2.0 OR MIT"}, {"type": "Custom Terms"}],
    }
    for where in ("a", "b"):
        write(new, f"srv/{where}/node_modules/multi/package.json", json.dumps(legacy))
    write(old, "srv/gone/node_modules/gone/package.json", '{"name": "gone", "version": "1.0.0"}')
    whiteout(new, "srv/gone/node_modules/gone")
    ours, theirs = both(identified(image_of(old, new)), with_files=True)
    assert ours == theirs
    assert "gone" not in {c["name"] for c in ours["components"]}
    licenses = {c["name"]: c.get("licenses") for c in ours["components"]}
    assert licenses["pkg"] == [{"expression": "(MIT OR Apache-2.0)"}]
    assert licenses["multi"] == [
        {"license": {"id": "MIT"}},
        {"license": {"name": "Custom Terms"}},
        {"license": {"name": "GPL-2.0 OR MIT"}},
    ]


def test_empty_image_equals_the_library_one(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ours, theirs = both(image_of(tmp_path / "empty"), with_files=False)
    assert ours == theirs
    assert "components" not in ours
