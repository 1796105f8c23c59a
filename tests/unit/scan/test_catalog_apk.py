"""apk cataloger, on the installed database of ``helpers.apkdb`` (no Alpine system or
apk-tools is at hand here: it is written in the published format)."""

from __future__ import annotations

from pathlib import Path

from helpers.apkdb import INSTALLED
from helpers.layerdirs import image_of, write

from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog_result import catalog_image

OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'


def test_installed_database(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(layer, "lib/apk/db/installed", INSTALLED)
    write(layer, "etc/os-release", OS_RELEASE)
    result = catalog_image(image_of(layer))
    assert result.os is not None and result.os.osv_ecosystem == "Alpine:v3.19"
    pkgs = {p.name: p for p in result.packages}
    assert set(pkgs) == {"musl", "libcrypto3"}
    crypto = pkgs["libcrypto3"]
    assert crypto.version == "3.1.4-r5"
    assert (crypto.source_name, crypto.licenses, crypto.arch) == (
        "openssl",
        ("Apache-2.0",),
        "x86_64",
    )
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1"
    assert crypto.files == ("/usr/lib/libcrypto.so.3", "/usr/lib/engines-3/afalg.so")
    assert pkgs["musl"].files == ("/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    assert {s.cataloger: s.status for s in result.statuses}["os/apk"] is Status.SUCCEEDED


def test_upgrade_in_a_later_layer(tmp_path: Path) -> None:
    l0, l1 = tmp_path / "l0", tmp_path / "l1"
    write(l0, "lib/apk/db/installed", INSTALLED)
    write(l1, "lib/apk/db/installed", INSTALLED.replace("V:3.1.4-r5", "V:3.1.4-r6"))
    result = catalog_image(image_of(l0, l1))
    layers = {(p.name, p.version): p.layer.index for p in result.packages if p.layer}
    assert layers == {("musl", "1.2.4_git20230717-r4"): 0, ("libcrypto3", "3.1.4-r6"): 1}


def test_damaged_records(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(
        layer,
        "lib/apk/db/installed",
        INSTALLED + "\nP:noversion\nA:x86_64\n\nthis line is junk\nP:ok\nV:1-r0\n",
    )
    result = catalog_image(image_of(layer))
    assert {p.name for p in result.packages} == {"musl", "libcrypto3", "ok"}
    status = {s.cataloger: s for s in result.statuses}["os/apk"]
    assert status.status is Status.PARTIAL and len(status.reasons) == 2
