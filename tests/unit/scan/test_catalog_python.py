"""Python cataloger against pip: a layer of packages installed by ``pip install --target``,
compared with what ``pip list --path`` reports for the same directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.layerdirs import image_of, layer_of, pip_install_wheels, whiteout, write

from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog.python import normalise_name
from hardbox.scan.catalog_result import catalog_image

SITE = "usr/local/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def pip_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layer = tmp_path_factory.mktemp("pip") / "layer"
    pip_install_wheels(layer / SITE)
    return layer


def pip_list(site: Path) -> set[tuple[str, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--path", str(site), "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {(normalise_name(d["name"]), d["version"]) for d in json.loads(out)}


def test_pip_layer_matches_pip_list(pip_layer: Path) -> None:
    result = catalog_image(image_of(pip_layer))
    found = {(p.name, p.version) for p in result.packages if p.ecosystem == "pypi"}
    assert found == pip_list(pip_layer / SITE)
    typing_ext = next(p for p in result.packages if p.name == "typing-extensions")
    assert typing_ext.purl == "pkg:pypi/typing-extensions@4.12.2"
    six = next(p for p in result.packages if p.name == "six")
    assert six.licenses == ("MIT",)
    assert f"/{SITE}/six.py" in six.files
    assert six.locations == (f"/{SITE}/six-1.16.0.dist-info/METADATA",)
    assert {s.cataloger: s.status for s in result.statuses}["language/python"] is Status.SUCCEEDED


def test_layer_attribution_and_removal(pip_layer: Path, tmp_path: Path) -> None:
    """A later layer that uninstalls idna (whiteout of its dist-info) removes it from the SBOM;
    one that only touches six's METADATA keeps six with the layer that first brought it."""
    later = tmp_path / "later"
    whiteout(later, f"{SITE}/idna-3.7.dist-info")
    metadata = (pip_layer / SITE / "six-1.16.0.dist-info/METADATA").read_text()
    write(later, f"{SITE}/six-1.16.0.dist-info/METADATA", metadata)
    result = catalog_image(image_of(pip_layer, later))
    names = {p.name: p for p in result.packages}
    assert "idna" not in names
    assert names["six"].layer is not None and names["six"].layer.index == 0


def test_egg_info_and_damaged_metadata(tmp_path: Path) -> None:
    layer = layer_of(tmp_path / "l0", {
        "usr/lib/python3/dist-packages/Old_Thing-0.9.egg-info/PKG-INFO":
            "Metadata-Version: 1.1\nName: Old_Thing\nVersion: 0.9\nLicense: BSD\n",
        "usr/lib/python3/dist-packages/flat-1.0.egg-info":
            "Metadata-Version: 1.0\nName: flat\nVersion: 1.0\n",
        "usr/lib/python3/dist-packages/broken-1.dist-info/METADATA": "\0\0 not metadata",
    })
    result = catalog_image(image_of(layer))
    assert {(p.name, p.version) for p in result.packages} == {("old-thing", "0.9"), ("flat", "1.0")}
    status = {s.cataloger: s for s in result.statuses}["language/python"]
    assert status.status is Status.PARTIAL and "broken-1.dist-info" in status.reasons[0]
