"""apk cataloger. No Alpine system or apk-tools is at hand here, so the installed database
is written by the test in the published format (wiki.alpinelinux.org/wiki/Apk_spec,
"Installed Database V2"), with field values copied from a real Alpine 3.19 record layout."""

from __future__ import annotations

from pathlib import Path

from helpers.layerdirs import image_of, write

from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog_result import catalog_image

INSTALLED = """\
C:Q1ejDbm3jVW0F4hIeSd3h6MN6jpuA=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1700590180
c:ca7f2ab5e88794e4e654b40776f8a92256f50639
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1tY7VHY/xKYtH3mq1CgNmrnGkOjs=
R:libc.musl-x86_64.so.1
a:0:0:777

C:Q1ZCCa9Cs9wfwXaC7Tt8RMu1WlWPI=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1789563
I:4374528
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conills <ariadne@dereferenced.org>
t:1706284911
F:usr
F:usr/lib
R:libcrypto.so.3
F:usr/lib/engines-3
R:afalg.so
"""

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
