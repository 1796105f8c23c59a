"""dpkg cataloger against dpkg itself: the debootstrap minbase's database is the ground truth,
and extra layers are made by running the real dpkg on a real overlayfs mount."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.layerdirs import dpkg_packages, image_of, in_overlay, write
from packageurl import PackageURL

from hardbox.scan.catalog.dpkg import paragraphs
from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog_result import catalog_image

pytestmark = pytest.mark.root


def deb_packages(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(p.name, p.version) for p in result.packages if p.ecosystem == "deb"}


def test_minbase_matches_dpkg_packages(debian_rootfs: Path) -> None:
    result = catalog_image(image_of(debian_rootfs))
    truth = dpkg_packages(debian_rootfs / "var/lib/dpkg")
    assert len(truth) > 50
    assert deb_packages(result) == truth
    status = {s.cataloger: s for s in result.statuses}["os/dpkg"]
    assert status.status is Status.SUCCEEDED and status.packages == len(truth)
    assert result.os is not None and result.os.osv_ecosystem == "Debian:12"
    libc = next(p for p in result.packages if p.name == "libc6")
    assert libc.source_name == "glibc"
    purl = PackageURL.from_string(libc.purl)
    assert (purl.type, purl.namespace, purl.name, purl.version) == (
        "deb",
        "debian",
        "libc6",
        libc.version,
    )
    assert purl.qualifiers == {"arch": "amd64", "distro": "debian-12"}
    assert "/lib/x86_64-linux-gnu/libc.so.6" in libc.files  # as dpkg lists it; /lib is a symlink
    assert all(p.layer is not None and p.layer.index == 0 for p in result.packages)


def test_licenses_agree_with_python_debian(debian_rootfs: Path) -> None:
    """Licenses come from DEP-5 copyright files, where python-debian's full parser agrees,
    and from the /usr/share/common-licenses references of older free-form ones (glibc's), where
    grep finds the same names."""
    from debian.copyright import Copyright

    result = catalog_image(image_of(debian_rootfs))
    checked = 0
    for name in ("adduser", "apt", "dpkg", "gzip", "libc6", "libgnutls30", "libstdc++6"):
        pkg = next(p for p in result.packages if p.name == name)
        path = debian_rootfs / f"usr/share/doc/{name}/copyright"
        text = path.read_text()
        if not text.startswith("Format:"):
            grep = subprocess.run(["grep", "-oE", "/usr/share/common-licenses/[A-Za-z0-9][A-Za-z0-9.+_-]*", str(path)],
                                  capture_output=True, text=True, check=True).stdout
            referenced = {line.rsplit("/", 1)[1].rstrip(".") for line in grep.split()}
            assert referenced and referenced <= set(pkg.licenses), name
            continue
        parsed = Copyright(text.splitlines(), strict=False)
        names = {p.license.synopsis for p in parsed.all_paragraphs() if getattr(p, "license", None)}
        assert set(pkg.licenses) == names, name
        checked += 1
    assert checked >= 3
    assert {"GPL-2", "LGPL-2.1"} <= set(next(p for p in result.packages if p.name == "libc6").licenses)
    # Every package of the minbase states a license but libxcrypt, whose copyright file points
    # at /usr/share/common-licenses/ without naming one.
    assert [p.name for p in result.packages if p.ecosystem == "deb" and not p.licenses] == ["libcrypt1"]


@pytest.fixture(scope="module")
def probe_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("dpkg-deb")
    root = tmp_path_factory.mktemp("deb") / "pkg"
    write(
        root,
        "DEBIAN/control",
        (
            "Package: hardbox-probe\nVersion: 1:2.0~rc1-3\nArchitecture: all\n"
            "Maintainer: hardbox tests <tests@hardbox.invalid>\nSource: hardbox-src (2.0~rc1-2)\n"
            "Description: a package the tests install with dpkg\n"
        ),
    )
    write(root, "usr/share/hardbox-probe/hello", "hello\n")
    out = root.parent / "hardbox-probe.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_layers_installed_and_purged_by_real_dpkg(
    debian_rootfs: Path, probe_deb: Path, tmp_path: Path
) -> None:
    l1, l2 = tmp_path / "l1", tmp_path / "l2"
    install = in_overlay(
        [debian_rootfs],
        l1,
        tmp_path / "w1",
        f"dpkg --root=$M -i {probe_deb} >/dev/null && dpkg-query --admindir=$M/var/lib/dpkg -W -f '${{Package}} ${{Version}}\\n'",
    )
    if install.returncode != 0:
        pytest.skip(f"cannot run dpkg on an overlayfs mount here: {install.stderr.strip()}")
    after_install = {tuple(line.split(" ", 1)) for line in install.stdout.splitlines()}
    purge = in_overlay(
        [l1, debian_rootfs], l2, tmp_path / "w2", "dpkg --root=$M -P hardbox-probe >/dev/null"
    )
    assert purge.returncode == 0, purge.stderr

    two = catalog_image(
        image_of(debian_rootfs, l1, created_by=("debootstrap", "dpkg -i hardbox-probe"))
    )
    assert deb_packages(two) == after_install
    probe = next(p for p in two.packages if p.name == "hardbox-probe")
    assert probe.version == "1:2.0~rc1-3"
    # The purl spec's deb type keeps the epoch in the version (its own example:
    # pkg:deb/debian/attr@1:2.4.47-2?arch=source); docs/adding-a-cataloger.md says why.
    assert probe.purl == "pkg:deb/debian/hardbox-probe@1:2.0~rc1-3?arch=all&distro=debian-12"
    assert (probe.source_name, probe.source_version) == ("hardbox-src", "2.0~rc1-2")
    assert probe.files == ("/usr/share/hardbox-probe/hello",)
    assert probe.layer is not None and (probe.layer.index, probe.layer.created_by) == (
        1,
        "dpkg -i hardbox-probe",
    )
    # Layer 1 rewrote the whole status file, but every other package came with layer 0.
    others = [p for p in two.packages if p.name != "hardbox-probe"]
    assert others and all(p.layer is not None and p.layer.index == 0 for p in others)

    three = catalog_image(image_of(debian_rootfs, l1, l2))
    assert deb_packages(three) == dpkg_packages(debian_rootfs / "var/lib/dpkg")


def test_distroless_status_d(debian_rootfs: Path, tmp_path: Path) -> None:
    """Distroless writes one status paragraph per file under status.d/; split minbase's."""
    layer = tmp_path / "distroless"
    status = (debian_rootfs / "var/lib/dpkg/status").read_text()
    for para in status.strip().split("\n\n"):
        name = para.split("\n", 1)[0].removeprefix("Package: ")
        write(layer, f"var/lib/dpkg/status.d/{name}", para + "\n")
        write(
            layer,
            f"var/lib/dpkg/status.d/{name}.md5sums",
            "d41d8cd98f00b204e9800998ecf8427e  usr/x\n",
        )
    result = catalog_image(image_of(layer))
    assert deb_packages(result) == dpkg_packages(debian_rootfs / "var/lib/dpkg")


def test_damaged_status_is_partial(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(
        layer,
        "var/lib/dpkg/status",
        (
            "Package: good\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\n"
            "Package: no-version\nStatus: install ok installed\n\n"
            "Package: BAD NAME\nVersion: 1\n\n"
            "Package: gone\nStatus: deinstall ok config-files\nVersion: 2\n\n"
            "Package: weird-source\nVersion: 3\nSource: a (b) (c)\n"
        ),
    )
    result = catalog_image(image_of(layer))
    assert deb_packages(result) == {("good", "1.0-1"), ("weird-source", "3")}
    status = {s.cataloger: s for s in result.statuses}["os/dpkg"]
    assert status.status is Status.PARTIAL
    assert len(status.reasons) == 3
    assert any("no-version" in r for r in status.reasons)


def test_binary_garbage_status_fails_cleanly(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(layer, "var/lib/dpkg/status", bytes(range(256)) * 64)
    result = catalog_image(image_of(layer))
    status = {s.cataloger: s for s in result.statuses}["os/dpkg"]
    assert status.status in (Status.FAILED, Status.SUCCEEDED)
    assert deb_packages(result) == set()


def _python_debian(text: str) -> list[dict[str, str]]:
    from debian.deb822 import Deb822

    return [
        {key.lower(): value for key, value in para.items()}
        for para in Deb822.iter_paragraphs(text.splitlines(keepends=True), use_apt_pkg=False)
    ]


def _fields(paras: list[dict[str, str]]) -> list[dict[str, str]]:
    """The fields the cataloger reads, whitespace-normalised (the two parsers keep a
    continuation line's indentation differently)."""
    read = ("package", "version", "status", "source", "architecture", "maintainer")
    return [{k: " ".join(p[k].split()) for k in read if k in p} for p in paras]


EDGE_CASES = (
    "Package: a\nVersion: 1\n\n\n# a comment\nPackage: b\n# inside\nVersion: 2\n",
    "Package: a\nPackage: b\nVersion: 1\n",  # a repeated field: the last one counts
    "package : a\nVer sion: 1\nno colon here\n  continued\nVERSION:2\n \t \nPackage: c\n",
    "Package: a\n Version: 1\n",  # a continuation of Package, not a Version field
    "Package: a\r\nVersion: 1\r\n\r\nPackage: b\r\nVersion: 2\r\n",
    "Package:\n: x\nVersion:   1.0  \n",
)


def test_paragraphs_read_as_python_debian_reads_them(debian_rootfs: Path) -> None:
    """The cataloger's deb822 reader against python-debian's on minbase's real database and on
    the awkward corners of the format."""
    status = (debian_rootfs / "var/lib/dpkg/status").read_text()
    for text in (status, *EDGE_CASES):
        assert _fields(list(paragraphs(text))) == _fields(_python_debian(text)), text[:80]


def test_paragraph_without_fields_does_not_end_the_database(tmp_path: Path) -> None:
    """python-debian stops iterating at a paragraph with no field in it (here a damaged
    line), silently dropping every package after it; the cataloger skips the damage and
    reads on."""
    layer = tmp_path / "l0"
    text = (
        "Package: first\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
        "garbled line without a colon\n\n"
        "Package: second\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n"
    )
    write(layer, "var/lib/dpkg/status", text)
    assert [p["package"] for p in _python_debian(text)] == ["first"]
    result = catalog_image(image_of(layer))
    assert deb_packages(result) == {("first", "1"), ("second", "2")}
