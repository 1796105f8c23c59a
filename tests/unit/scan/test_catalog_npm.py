"""npm cataloger against npm: packages installed by ``npm install`` from the registry,
compared with ``npm ls --all --json``; hostile manifests are recorded, never fatal."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import need_tool
from helpers.layerdirs import image_of, write

from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog_result import catalog_image

APP = "srv/app"
# is-odd@3 wants is-number@^6 while the app wants 7: npm nests the older one, which the
# cataloger must find too; the scoped package checks the @scope/name purl.
INSTALL = ("is-number@7.0.0", "is-odd@3.0.1", "@isaacs/string-locale-compare@1.1.0")


@pytest.fixture(scope="module")
def npm_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("npm")
    layer = tmp_path_factory.mktemp("npm") / "layer"
    app = layer / APP
    app.mkdir(parents=True)
    proc = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(app), *INSTALL],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.skip(f"npm cannot install from the registry here: {proc.stderr.strip()[-200:]}")
    return layer


def npm_ls(app: Path) -> set[tuple[str, str]]:
    tree = json.loads(
        subprocess.run(
            ["npm", "ls", "--all", "--json", "--prefix", str(app)], capture_output=True, text=True
        ).stdout
    )
    found: set[tuple[str, str]] = set()

    def visit(deps: dict[str, Any]) -> None:
        for name, info in deps.items():
            found.add((name, info["version"]))
            visit(info.get("dependencies", {}))

    visit(tree.get("dependencies", {}))
    return found


@pytest.mark.slow
def test_installed_tree_matches_npm_ls(npm_layer: Path) -> None:
    result = catalog_image(image_of(npm_layer))
    found = {(p.name, p.version) for p in result.packages if p.ecosystem == "npm"}
    assert found == npm_ls(npm_layer / APP)
    assert ("is-number", "6.0.0") in found and ("is-number", "7.0.0") in found
    scoped = next(p for p in result.packages if p.name == "@isaacs/string-locale-compare")
    assert scoped.purl == "pkg:npm/%40isaacs/string-locale-compare@1.1.0"
    assert scoped.licenses == ("ISC",)
    nested = next(p for p in result.packages if (p.name, p.version) == ("is-number", "6.0.0"))
    assert nested.locations == (f"/{APP}/node_modules/is-odd/node_modules/is-number/package.json",)


def test_hostile_manifests(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    nm = "usr/lib/node_modules"
    write(
        layer,
        f"{nm}/ok/package.json",
        json.dumps({"name": "ok", "version": "1.0.0", "license": {"type": "MIT"}}),
    )
    write(layer, f"{nm}/deep/package.json", "[" * 100_000 + "]" * 100_000)
    write(layer, f"{nm}/trunc/package.json", '{"name": "trunc", "vers')
    write(layer, f"{nm}/noversion/package.json", '{"name": "noversion"}')
    write(layer, f"{nm}/huge/package.json", b" " * (5 * 1024 * 1024))
    # Parses, but names no package a purl can hold: recorded when the package is built.
    write(layer, f"{nm}/@evil/x/package.json", json.dumps({"name": "@evil/", "version": "1.0.0"}))
    # Not an installed package: a manifest inside a package's own tree.
    write(
        layer,
        f"{nm}/ok/test/fixture/package.json",
        json.dumps({"name": "fixture", "version": "9.9.9"}),
    )
    result = catalog_image(image_of(layer))
    assert [(p.name, p.version, p.licenses) for p in result.packages] == [("ok", "1.0.0", ("MIT",))]
    status = {s.cataloger: s for s in result.statuses}["language/npm"]
    assert status.status is Status.PARTIAL
    assert len(status.reasons) == 5
    assert any("@evil/x/package.json" in r for r in status.reasons)
