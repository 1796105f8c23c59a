"""The minimizer's apk database rewrite (minimize/pkgdb.py) reads the database as the scan's
cataloger does (``scan/catalog/apk.records``): what it keeps is what a scan of the result
lists, file by file."""

from __future__ import annotations

from pathlib import Path

from helpers.apkdb import INSTALLED
from helpers.layerdirs import image_of, write

from hardbox.minimize.pkgdb import truthful_databases
from hardbox.minimize.rootview import RootView
from hardbox.scan.catalog.apk import INSTALLED_DB
from hardbox.scan.catalog_result import catalog_image

FILES = ("lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1", "usr/lib/libcrypto.so.3",
         "usr/lib/engines-3/afalg.so")


def test_the_scan_of_the_rewritten_database_lists_what_was_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    # A whitespace-only line separates records too, for apk and for the scan.
    write(root, INSTALLED_DB, INSTALLED.replace("\n\nC:", "\n  \t\nC:"))
    for path in FILES:
        write(root, path, "\x7fELF")
    edit = truthful_databases(RootView(root), {"/lib/ld-musl-x86_64.so.1"})
    assert (edit.kept_packages, edit.removed_packages, edit.errors) == (["apk:musl"], ["apk:libcrypto3"], [])

    rewritten = edit.overrides[INSTALLED_DB].decode()
    # The dropped file goes with the lines that describe it; the kept one keeps its own.
    assert "R:libc.musl" not in rewritten and "a:0:0:777" not in rewritten
    assert "R:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1tY7VHY" in rewritten

    result = tmp_path / "result"
    write(result, INSTALLED_DB, rewritten)
    (musl,) = catalog_image(image_of(result)).packages
    assert (musl.name, musl.version, musl.files) == ("musl", "1.2.4_git20230717-r4", ("/lib/ld-musl-x86_64.so.1",))
