"""The generic half of every cataloger (``scan/catalog/interface.Cataloger``), through a
cataloger of the smallest format there is: ``name@version`` lines in ``/pkgs.txt``. One
package per key of the visible sightings, dated by the earliest layer that held it; a record
that makes no package is a problem naming where and which; owned files only ``with_files``."""

from __future__ import annotations

from pathlib import Path

from helpers.layerdirs import image_of, write

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting, Status
from hardbox.scan.catalog_result import CatalogResult, CatalogSession
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile, walk


class LineCataloger(Cataloger[tuple[str, str]]):
    name = "test/lines"
    ecosystem = "npm"

    def wants(self, path: str) -> bool:
        return path == "/pkgs.txt"

    def read(self, file: ImageFile) -> None:
        for line in file.read_text(4096).splitlines():
            name, _, version = line.partition("@")
            self.saw(file, (name, version), (name, version))

    def package(self, sighting: Sighting[tuple[str, str]], layer: LayerRef, ctx: CatalogContext) -> Package:
        name, version = sighting.record
        return self.new_package(sighting, layer, name, version, self.purl(name, version),
                                files=(f"/lib/{name}",))


def _catalog(tmp_path: Path, *, with_files: bool) -> CatalogResult:
    l0, l1 = tmp_path / "l0", tmp_path / "l1"
    write(l0, "pkgs.txt", "a@1\nb@1\n")
    write(l1, "pkgs.txt", "a@1\nc@2\nd@\n@3\nc@2\n")  # the later layer rewrites the list
    session = CatalogSession((LineCataloger,), with_files=with_files)
    return session.finish(walk(image_of(l0, l1), session.visitors))


def test_one_package_per_visible_key_dated_by_its_first_layer(tmp_path: Path) -> None:
    result = _catalog(tmp_path, with_files=True)
    got = [(p.name, p.version, p.layer.index if p.layer else None, p.locations, p.files)
           for p in result.packages]
    # b was only in the hidden copy: gone; c twice in one copy: one package.
    assert got == [("a", "1", 0, ("/pkgs.txt",), ("/lib/a",)), ("c", "2", 1, ("/pkgs.txt",), ("/lib/c",))]
    assert all((p.ecosystem, p.cataloger) == ("npm", "test/lines") for p in result.packages)


def test_a_record_that_makes_no_package_is_a_named_problem(tmp_path: Path) -> None:
    (status,) = _catalog(tmp_path, with_files=True).statuses
    assert (status.status, status.packages) == (Status.PARTIAL, 2)
    assert status.reasons[0] == "/pkgs.txt: npm package 'd' has no version"
    assert status.reasons[1].startswith("/pkgs.txt: package '': no purl: ")
    assert len(status.reasons) == 2


def test_owned_files_only_with_files(tmp_path: Path) -> None:
    assert all(p.files == () for p in _catalog(tmp_path, with_files=False).packages)
