"""Go modules compiled into binaries, from the build information the Go linker embeds.

Since Go 1.18 the ``.go.buildinfo`` section (or, with section headers stripped, the start of
the first writable segment) holds a 32-byte header — the magic ``"\\xff Go buildinf:"``, the
pointer size, a flags byte — and, when flag bit 2 ("version inline") is set, two
varint-length-prefixed strings: the Go version and the module info (Go's
src/debug/buildinfo/buildinfo.go). The module info is the text ``go version -m`` prints,
framed by 16-byte sentinels: ``path``, ``mod`` (the main module), ``dep`` lines, each
optionally followed by a ``=>`` replacement, and ``build`` settings. Binaries from Go before
1.18 use a pointer-based layout and are recorded as unsupported.

Packages: the main module, every dependency (at its replacement's version when replaced by
a module, with the replacement recorded), and ``stdlib`` at the toolchain version, as OSV's
Go ecosystem names the standard library. Versions are Go's (``v1.2.3``).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

_MAGIC = b"\xff Go buildinf:"
_FLAG_VERSION_INLINE = 0x2
_MAX_BINARY = 2 * 1024 * 1024 * 1024
_MAX_SEARCH = 1024 * 1024  # how much of a writable segment to search for the magic
_PF_W = 0x2


@dataclass(frozen=True)
class BuildInfo:
    go_version: str
    path: str
    main: tuple[str, str]  # module path, version
    deps: tuple[tuple[str, str, str], ...]  # path, version, replacement ("" if none)
    settings: tuple[tuple[str, str], ...]


def _varstring(data: bytes, pos: int) -> tuple[str, int]:
    length, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint in Go build info")
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if pos + length > len(data):
        raise ValueError("Go build info string runs past its section")
    return data[pos : pos + length].decode("utf-8", errors="replace"), pos + length


def parse_buildinfo_blob(data: bytes) -> BuildInfo | None:
    """Build info from a section's bytes, None when there is no magic. Raises ValueError on a
    damaged or pre-1.18 blob."""
    start = -1
    for offset in range(0, max(len(data) - 32, 0) + 1, 16):  # the magic is 16-byte aligned
        if data[offset : offset + len(_MAGIC)] == _MAGIC:
            start = offset
            break
    if start < 0:
        return None
    flags = data[start + 15]
    if not flags & _FLAG_VERSION_INLINE:
        raise ValueError("Go build info from before Go 1.18 (pointer format) is unsupported")
    version, pos = _varstring(data, start + 32)
    modinfo, _ = _varstring(data, pos)
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    return parse_modinfo(version, modinfo)


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    path, main = "", ("", "")
    deps: list[tuple[str, str, str]] = []
    settings: list[tuple[str, str]] = []
    for line in text.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "path" and len(fields) >= 2:
            path = fields[1]
        elif kind == "mod" and len(fields) >= 3:
            main = (fields[1], fields[2])
        elif kind == "dep" and len(fields) >= 3:
            deps.append((fields[1], fields[2], ""))
        elif kind == "=>" and len(fields) >= 3 and deps:
            dep_path, dep_version, _ = deps[-1]
            # A replacement by a local directory has no version: keep the required one.
            replaced_version = (
                fields[2] if fields[2] and not fields[2].startswith("(") else dep_version
            )
            deps[-1] = (dep_path, replaced_version, f"{fields[1]} {fields[2]}".strip())
        elif kind == "build" and len(fields) >= 2:
            key, _, value = fields[1].partition("=")
            settings.append((key, value))
    return BuildInfo(go_version, path, main, tuple(deps), tuple(settings))


def read_buildinfo(file: ImageFile) -> BuildInfo | None:
    """The build info of an ELF file, None when it is no Go binary."""
    with file.open() as fh:
        if fh.read(4) != b"\x7fELF":
            return None
        # pyelftools parses every section header; most ELF files are not Go, and a
        # memchr-speed search for the magic rules them out first.
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if mapped.find(_MAGIC) < 0:
                return None
        # pyelftools is imported only here, for the few files that carry the magic: its
        # import costs more than cataloging a whole Debian image.
        from elftools.common.exceptions import ELFError
        from elftools.construct.core import ConstructError
        from elftools.elf.elffile import ELFFile

        fh.seek(0)
        try:
            info = _locate(ELFFile(fh), fh)
        except (ELFError, ConstructError) as err:
            raise ValueError(f"malformed ELF: {err}") from None
    if info is None:
        raise ValueError(
            "holds the Go build-info magic, but neither a .go.buildinfo section nor a writable segment starts with it"
        )
    return info


def _locate(elf: ELFFile, fh: IO[bytes]) -> BuildInfo | None:
    """The blob in ``.go.buildinfo``, or — section headers stripped — at the start of the
    first writable PT_LOAD segment, where Go's own reader looks too."""
    section = elf.get_section_by_name(".go.buildinfo")
    if section is not None:
        return parse_buildinfo_blob(section.data()[:_MAX_SEARCH])
    for segment in elf.iter_segments():
        if segment["p_type"] == "PT_LOAD" and segment["p_flags"] & _PF_W:
            fh.seek(segment["p_offset"])
            return parse_buildinfo_blob(fh.read(min(segment["p_filesz"], _MAX_SEARCH)))
    return None


@dataclass(frozen=True)
class _Module:
    """One module a binary was built from, with the toolchain that built the binary and the
    facts the SBOM carries about the module (main module, replacement)."""

    path: str
    version: str
    go_version: str
    properties: tuple[tuple[str, str], ...] = ()


def _modules(info: BuildInfo) -> list[_Module]:
    """The modules of a binary's build info: ``stdlib`` at the toolchain version (as OSV's Go
    ecosystem names the standard library), the main module, and every dependency at the
    version it was built with (its replacement's, when replaced by a module)."""
    found = []
    if info.go_version.startswith("go"):
        found.append(_Module("stdlib", "v" + info.go_version[2:].split(" ")[0], info.go_version))
    main_path, main_version = info.main
    if main_path:
        main = (("hardbox:golang:main-module", "true"), ("hardbox:golang:path", info.path))
        found.append(_Module(main_path, main_version or "(devel)", info.go_version, main))
    for dep_path, dep_version, replacement in info.deps:
        replaced = (("hardbox:golang:replace", replacement),) if replacement else ()
        found.append(_Module(dep_path, dep_version, info.go_version, replaced))
    return found


class GoBinaryCataloger(Cataloger[_Module]):
    name = "binary/go"
    ecosystem = "golang"

    def wants(self, path: str) -> bool:
        # Any path can hold a Go binary; ``read`` looks at the mode and the ELF magic.
        return not path.startswith(("/proc/", "/sys/", "/dev/"))

    def read(self, file: ImageFile) -> None:
        if not file.visible or not file.is_executable or file.size < 64 or file.size > _MAX_BINARY:
            return
        info = read_buildinfo(file)
        if info is not None:
            for module in _modules(info):
                # Each binary's modules are packages of their own (the binary is the location).
                self.saw(file, (file.path, module.path, module.version), module)

    def package(self, sighting: Sighting[_Module], layer: LayerRef, ctx: CatalogContext) -> Package:
        m = sighting.record
        namespace, _, name = m.path.rpartition("/")
        return self.new_package(
            sighting, layer, m.path, m.version,
            self.purl(name, m.version, namespace=namespace or None),
            properties=(("hardbox:golang:go-version", m.go_version), *m.properties),
        )
