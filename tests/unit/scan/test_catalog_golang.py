"""Go binary cataloger against the Go toolchain: a binary built by the test with Debian's
golang-go (a main module and a dependency wired in by a local ``replace``), compared with
what ``go version -m`` reads from the same binary."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.layerdirs import image_of, write

from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog_result import catalog_image

CACHE = Path(os.environ.get("HARDBOX_TEST_CACHE", "/var/cache/hardbox-tests")) / "gocache"


def go_env(tmp: Path) -> dict[str, str]:
    # Offline and reproducible: no proxy, no toolchain download, a build cache kept between runs.
    CACHE.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "GOPROXY": "off",
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(CACHE),
        "GOPATH": str(tmp / "gopath"),
        "CGO_ENABLED": "0",
    }


@pytest.fixture(scope="module")
def go_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("go")
    src = tmp_path_factory.mktemp("gosrc")
    write(src, "greet/go.mod", "module example.com/greet\n\ngo 1.18\n")
    write(src, "greet/greet.go", 'package greet\n\nfunc Hello() string { return "hello" }\n')
    write(
        src,
        "hello/go.mod",
        (
            "module example.com/hello\n\ngo 1.18\n\nrequire example.com/greet v1.2.3\n\n"
            "replace example.com/greet => ../greet\n"
        ),
    )
    write(
        src,
        "hello/main.go",
        (
            'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\n'
            'var version = "dev"\n\nfunc main() { fmt.Println(greet.Hello(), version) }\n'
        ),
    )
    layer = src / "layer"
    out = layer / "usr/local/bin/hello"
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w -X main.version=1.0", "-o", str(out), "."],
        cwd=src / "hello",
        env=go_env(src),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return layer


def go_version_m(binary: Path) -> dict[str, list[list[str]]]:
    out = subprocess.run(
        ["go", "version", "-m", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    fields: dict[str, list[list[str]]] = {"go": [[lines[0].split(": ", 1)[1]]]}
    for line in lines[1:]:
        parts = line.strip().split("\t")
        fields.setdefault(parts[0], []).append(parts[1:])
    return fields


@pytest.mark.slow
def test_build_info_matches_go_version_m(go_layer: Path) -> None:
    binary = go_layer / "usr/local/bin/hello"
    truth = go_version_m(binary)
    result = catalog_image(image_of(go_layer))
    pkgs = {p.name: p for p in result.packages if p.ecosystem == "golang"}
    go_version = truth["go"][0][0]
    assert pkgs["stdlib"].version == "v" + go_version.removeprefix("go")
    assert pkgs["stdlib"].get_property("hardbox:golang:go-version") == go_version
    main_path, main_version = truth["mod"][0][0], truth["mod"][0][1]
    assert pkgs[main_path].version == main_version
    assert pkgs[main_path].get_property("hardbox:golang:path") == truth["path"][0][0]
    dep_path, dep_version = truth["dep"][0][0], truth["dep"][0][1]
    assert (dep_path, dep_version) == ("example.com/greet", "v1.2.3")
    assert pkgs[dep_path].version == dep_version
    assert pkgs[dep_path].purl == "pkg:golang/example.com/greet@v1.2.3"
    assert (
        pkgs[dep_path].get_property("hardbox:golang:replace")
        == " ".join(truth["=>"][0][:2]).strip()
    )
    assert set(pkgs) == {"stdlib", main_path, dep_path}
    assert all(p.locations == ("/usr/local/bin/hello",) for p in pkgs.values())


def test_non_go_and_damaged_elf(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    busybox = Path("/bin/busybox")
    if busybox.exists():
        write(layer, "bin/busybox", busybox.read_bytes(), 0o755)
    # ELF magic and the Go build-info magic, but no valid ELF structure behind them.
    write(
        layer,
        "usr/bin/fake",
        b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 57 + b"\xff Go buildinf:" + b"\0" * 64,
        0o755,
    )
    result = catalog_image(image_of(layer))
    assert [p for p in result.packages if p.ecosystem == "golang"] == []
    status = {s.cataloger: s for s in result.statuses}["binary/go"]
    assert status.status is Status.FAILED and "/usr/bin/fake" in status.reasons[0]


@pytest.mark.slow
def test_copied_binary_outside_path_is_found(go_layer: Path, tmp_path: Path) -> None:
    layer = tmp_path / "l1"
    (layer / "opt").mkdir(parents=True)
    shutil.copy2(go_layer / "usr/local/bin/hello", layer / "opt/renamed")
    result = catalog_image(image_of(go_layer, layer))
    locations = {p.locations[0] for p in result.packages if p.name == "example.com/hello"}
    assert locations == {"/usr/local/bin/hello", "/opt/renamed"}
    layers = {
        p.locations[0]: p.layer.index for p in result.packages if p.layer and p.name == "stdlib"
    }
    assert layers == {"/usr/local/bin/hello": 0, "/opt/renamed": 1}
