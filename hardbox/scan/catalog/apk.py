"""Alpine packages from apk's installed database, ``lib/apk/db/installed``.

The format (wiki.alpinelinux.org/wiki/Apk_spec, "Installed Database V2") is one paragraph
per package, separated by blank lines, each line ``X:value`` with a one-letter key:
``P`` name, ``V`` version, ``A`` arch, ``L`` license, ``o`` origin (the source package),
``m`` maintainer, ``F`` a directory and ``R`` a file in the last ``F``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_DB = "/lib/apk/db/installed"
_MAX_DB = 256 * 1024 * 1024


@dataclass
class _Record:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    line: int = 0


def parse_installed(text: str) -> tuple[list[_Record], list[str]]:
    """The records of an installed database, and "line N: problem" for lines that are not
    ``X:value``."""
    records: list[_Record] = []
    problems: list[str] = []
    current = _Record()
    directory = ""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if current.fields:
                records.append(current)
            current, directory = _Record(line=number + 1), ""
            continue
        if len(line) < 2 or line[1] != ":":
            problems.append(f"line {number}: not a KEY:value line")
            continue
        key, value = line[0], line[2:]
        if not current.fields:
            current.line = number
        if key == "F":
            directory = value
        elif key == "R":
            current.files.append("/" + posixpath.join(directory, value).lstrip("/"))
        else:
            current.fields.setdefault(key, value)
    if current.fields:
        records.append(current)
    return records, problems


class ApkCataloger(Cataloger[_Record]):
    name = "os/apk"
    ecosystem = "apk"

    def wants(self, path: str) -> bool:
        return path == _DB

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        records, problems = parse_installed(file.read_text(_MAX_DB))
        for problem in problems:
            self.problem(f"{file.path}: {problem}")
        for record in records:
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
