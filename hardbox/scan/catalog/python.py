"""Python distributions: ``*.dist-info/METADATA`` (PEP 376/566, what pip installs) and
``*.egg-info/PKG-INFO`` or a bare ``*.egg-info`` file (setuptools' older layout).

Names are normalised as PEP 503 says (runs of ``-_.`` become ``-``, lower case), which is
also how the purl spec's pypi type and OSV's PyPI ecosystem spell them. Files come from
``RECORD``, whose paths are relative to the directory holding the ``.dist-info``.
"""

from __future__ import annotations

import csv
import posixpath
import re

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Manifest, Sighting
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_MAX_METADATA = 16 * 1024 * 1024
_MAX_RECORD = 64 * 1024 * 1024
_NORMALISE = re.compile(r"[-_.]+")
_LICENSE_CLASSIFIER = "License :: "


def normalise_name(name: str) -> str:
    """PEP 503 normalisation: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _NORMALISE.sub("-", name).lower()


def _licenses(headers: dict[str, list[str]]) -> tuple[str, ...]:
    # PEP 639's License-Expression is an SPDX expression; prefer it. The old free-text
    # License field is often the whole license text, so keep it only when it is short.
    if headers.get("license-expression"):
        return (headers["license-expression"][0].strip(),)
    classifiers = [
        c.rsplit("::", 1)[-1].strip()
        for c in headers.get("classifier", [])
        if c.startswith(_LICENSE_CLASSIFIER)
    ]
    text = (headers.get("license") or [""])[0].strip()
    if text and "\n" not in text and len(text) <= 100 and text.upper() != "UNKNOWN":
        return (text,)
    return tuple(dict.fromkeys(classifiers))


class PythonCataloger(Cataloger[Manifest]):
    name = "language/python"
    ecosystem = "pypi"

    def wants(self, path: str) -> bool:
        return path.endswith(
            (".dist-info/METADATA", ".dist-info/RECORD", ".egg-info/PKG-INFO")
        ) or path.endswith(".egg-info")

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        if file.path.endswith("/RECORD"):
            if file.visible and self.with_files:
                self._read_record(file)
            return
        # Imported here: the email package costs more to import than an image without
        # Python packages takes to catalog.
        from email.parser import HeaderParser

        parsed = HeaderParser().parsestr(file.read_text(_MAX_METADATA))
        headers: dict[str, list[str]] = {}
        for key, value in parsed.items():
            headers.setdefault(key.lower(), []).append(str(value))
        name = (headers.get("name") or [""])[0].strip()
        version = (headers.get("version") or [""])[0].strip()
        if not name or not version or any(c.isspace() for c in version):
            raise ValueError(f"no usable Name/Version (name {name!r}, version {version!r})")
        name = normalise_name(name)
        self.saw(file, (file.path, name, version), Manifest(name, version, _licenses(headers)))

    def _read_record(self, file: ImageFile) -> None:
        dist_info = posixpath.dirname(file.path)
        site = posixpath.dirname(dist_info)
        files = []
        for row in csv.reader(file.read_text(_MAX_RECORD).splitlines()):
            if row and row[0]:
                files.append(posixpath.normpath(posixpath.join(site, row[0])))
        self.owned[dist_info] = tuple(files)

    def package(self, sighting: Sighting[Manifest], layer: LayerRef, ctx: CatalogContext) -> Package:
        dist, location = sighting.record, sighting.location
        meta_dir = location if location.endswith(".egg-info") else posixpath.dirname(location)
        return self.new_package(
            sighting, layer, dist.name, dist.version, self.purl(dist.name, dist.version),
            licenses=dist.licenses, files=self.owned.get(meta_dir, ()),
        )
