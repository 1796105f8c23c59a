"""The cataloger registry and os-release: every cataloger module is registered, named
path-like and documented; the OS is read as os-release(5) says."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from helpers.layerdirs import image_of, write

import hardbox.scan.catalog as catalog
from hardbox.scan.catalog import CATALOGERS, Cataloger
from hardbox.scan.catalog.os_release import parse_os_release
from hardbox.scan.catalog_result import catalog_image

DOC = Path(__file__).resolve().parents[3] / "docs/adding-a-cataloger.md"


def test_every_cataloger_module_is_registered() -> None:
    defined = set()
    for info in pkgutil.iter_modules(catalog.__path__):
        module = importlib.import_module(f"hardbox.scan.catalog.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, Cataloger)
                and obj is not Cataloger
                and obj.__module__ == module.__name__
            ):
                defined.add(obj)
    assert defined == set(CATALOGERS)


def test_names_are_unique_path_like_and_documented() -> None:
    names = [cls.name for cls in CATALOGERS]
    assert len(set(names)) == len(names)
    text = DOC.read_text()
    for cls in CATALOGERS:
        assert cls.name.count("/") == 1, cls
        assert f"`{cls.name}`" in text, f"{cls.name} missing from {DOC.name}"


def test_os_release_quoting() -> None:
    fields = parse_os_release(
        '# comment\nNAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n'
        'PRETTY_NAME=\'Debian GNU/Linux 12 (bookworm)\'\nBROKEN="unterminated\nHOME_URL="https://www.debian.org/"\n'
    )
    assert fields == {
        "NAME": "Debian GNU/Linux",
        "ID": "debian",
        "VERSION_ID": "12",
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "HOME_URL": "https://www.debian.org/",
    }


@pytest.mark.root
def test_os_release_symlink_is_followed_inside_the_image(tmp_path: Path) -> None:
    """/etc/os-release -> ../usr/lib/os-release, as Debian ships it; an escaping absolute
    link must not read the host's file."""
    layer = tmp_path / "l0"
    write(layer, "usr/lib/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\n')
    (layer / "etc").mkdir()
    (layer / "etc/os-release").symlink_to("../usr/lib/os-release")
    result = catalog_image(image_of(layer))
    assert result.os is not None
    assert (result.os.id, result.os.purl_distro, result.os.osv_ecosystem) == (
        "ubuntu",
        "ubuntu-22.04",
        "Ubuntu:22.04",
    )
    assert result.os.path == "/usr/lib/os-release"

    hostile = tmp_path / "l1"
    (hostile / "etc").mkdir(parents=True)
    (hostile / "etc/os-release").symlink_to("/proc/self/root/etc/os-release")
    assert catalog_image(image_of(hostile)).os is None
