"""Alpine packages from apk's installed database, ``lib/apk/db/installed``.

The format (wiki.alpinelinux.org/wiki/Apk_spec, "Installed Database V2") is one paragraph
per package, separated by blank lines, each line ``X:value`` with a one-letter key:
``P`` name, ``V`` version, ``A`` arch, ``L`` license, ``o`` origin (the source package),
``m`` maintainer, ``F`` a directory and ``R`` a file in the last ``F``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

INSTALLED_DB = "/lib/apk/db/installed"
_MAX_DB = 256 * 1024 * 1024


class Line(NamedTuple):
    """One line of a record: its number and text, ``key`` and ``value`` of an ``X:value``
    line (``key`` empty for a line that is none), and ``path``: for an ``R:`` line the image
    path of the file it names, in the directory of the last ``F:``; for the ``a:`` (owner
    and mode) and ``Z:`` (checksum) lines after it, the same file's, since they describe it."""

    number: int
    text: str
    key: str
    value: str
    path: str | None = None


def records(text: str) -> Iterator[list[Line]]:
    """The lines of each record of an installed database; records are separated by blank
    (or whitespace-only) lines. The one reading of the format: the cataloger builds packages
    from it, and ``hardbox minimize`` rewrites the database with it (minimize/pkgdb.py), so a
    scan of a minimized image reads what the minimizer meant to keep."""
    record: list[Line] = []
    directory = ""
    file: str | None = None  # the file the last R: named, while a:/Z: lines follow it
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if record:
                yield record
            record, directory, file = [], "", None
            continue
        if len(line) < 2 or line[1] != ":":
            record.append(Line(number, line, "", ""))
            continue
        key, value = line[0], line[2:]
        if key == "R":
            file = "/" + posixpath.join(directory, value).lstrip("/")
        elif key not in ("a", "Z"):
            file = None
            if key == "F":
                directory = value
        record.append(Line(number, line, key, value, file))
    if record:
        yield record


@dataclass
class _Record:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    line: int = 0


def parse_installed(text: str) -> tuple[list[_Record], list[str]]:
    """The records of an installed database, and "line N: problem" for lines that are not
    ``X:value``."""
    found: list[_Record] = []
    problems: list[str] = []
    for lines in records(text):
        current = _Record()
        for line in lines:
            if not line.key:
                problems.append(f"line {line.number}: not a KEY:value line")
                continue
            if not current.fields:
                current.line = line.number
            if line.key == "R" and line.path is not None:
                current.files.append(line.path)
            elif line.key != "F":
                current.fields.setdefault(line.key, line.value)
        if current.fields:
            found.append(current)
    return found, problems


class ApkCataloger(Cataloger[_Record]):
    name = "os/apk"
    ecosystem = "apk"

    def wants(self, path: str) -> bool:
        return path == INSTALLED_DB

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        found, problems = parse_installed(file.read_text(_MAX_DB))
        for problem in problems:
            self.problem(f"{file.path}: {problem}")
        for record in found:
            name, version = record.fields.get("P"), record.fields.get("V")
            if not name or not version:
                self.problem(
                    f"{file.path}: record at line {record.line} has no P: name or V: version"
                )
                continue
            self.saw(file, (name, version), record)

    def package(self, sighting: Sighting[_Record], layer: LayerRef, ctx: CatalogContext) -> Package:
        f = sighting.record.fields
        name, version, arch = f["P"], f["V"], f.get("A", "")
        namespace = ctx.os.id if ctx.os is not None else "alpine"
        license_ = f.get("L", "").strip()
        return self.new_package(
            sighting, layer, name, version,
            self.purl(name, version, namespace=namespace,
                      qualifiers={"arch": arch, "distro": ctx.distro}),
            arch=arch,
            source_name=f.get("o", name),
            source_version=version,
            # apk writes an SPDX expression ("MIT AND BSD-2-Clause") or a space list.
            licenses=(license_,) if license_ else (),
            files=tuple(sighting.record.files),
        )
