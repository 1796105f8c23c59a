"""The static ELF closure of a set of executables, read from the files without running them.

For each ELF file: its program interpreter (PT_INTERP) and every DT_NEEDED library, found the
way glibc's loader finds them (``elf/dl-load.c``, ``_dl_map_object``): a name with a ``/`` is
a path; otherwise DT_RPATH of the object and then of its loaders (only while the object has
no DT_RUNPATH), DT_RUNPATH of the object itself (not inherited), the image's own
``/etc/ld.so.cache``, then the default directories. ``$ORIGIN``, ``$LIB`` and ``$PLATFORM``
are expanded as ld.so expands them. Candidates of the wrong ELF class or machine are skipped,
as the loader skips them. Files are hostile input: a malformed ELF is recorded, not fatal.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from hardbox.minimize import ldcache
from hardbox.minimize.rootview import RootView

_MACHINE_LIB = {  # e_machine -> ($LIB multiarch dir, ld.so.cache arch flag, $PLATFORM)
    ("EM_X86_64", 64): ("x86_64-linux-gnu", ldcache.ARCH_FLAGS["x86-64"], "x86_64"),
    ("EM_AARCH64", 64): ("aarch64-linux-gnu", ldcache.ARCH_FLAGS["aarch64"], "aarch64"),
    ("EM_386", 32): ("i386-linux-gnu", ldcache.ARCH_FLAGS["i386"], "i686"),
    ("EM_RISCV", 64): ("riscv64-linux-gnu", ldcache.ARCH_FLAGS["riscv64-lp64d"], "riscv64"),
}


@dataclass(frozen=True)
class ElfInfo:
    path: str
    elf_class: int
    machine: str
    interp: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]


def read_elf(view: RootView, image_path: str) -> ElfInfo | None:
    """Parse an ELF file's dynamic information; None when it is not an ELF file."""
    host = view.host(image_path)
    try:
        with open(host, "rb") as fh:
            if fh.read(4) != b"\x7fELF":
                return None
            fh.seek(0)
            elf = ELFFile(fh)
            interp = None
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            for segment in elf.iter_segments():
                if segment["p_type"] == "PT_INTERP":
                    interp = segment.get_interp_name()  # type: ignore[attr-defined]
            for section in elf.iter_sections():
                if not isinstance(section, DynamicSection):
                    continue
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)  # type: ignore[attr-defined]
                    elif tag.entry.d_tag == "DT_RPATH":
                        rpath.extend(p for p in tag.rpath.split(":") if p)  # type: ignore[attr-defined]
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        runpath.extend(p for p in tag.runpath.split(":") if p)  # type: ignore[attr-defined]
            return ElfInfo(image_path, elf.elfclass, elf["e_machine"], interp,
                           tuple(needed), tuple(rpath), tuple(runpath))
    except (ELFError, OSError, ValueError, KeyError, AttributeError, UnicodeDecodeError) as err:
        raise MalformedElf(f"{image_path}: not a readable ELF file: {err}") from err


class MalformedElf(ValueError):
    """An ELF file the closure could not read; recorded by the caller, not fatal."""


@dataclass
class Closure:
    """What the static reading found: kept paths with the reasons, and what was not found."""

    keep: dict[str, set[str]] = field(default_factory=dict)
    missing: dict[str, set[str]] = field(default_factory=dict)  # soname -> objects needing it
    errors: list[str] = field(default_factory=list)

    def add(self, path: str, reason: str) -> None:
        self.keep.setdefault(path, set()).add(reason)


class ElfResolver:
    """Computes closures over one root filesystem, with its own ld.so.cache."""

    def __init__(self, view: RootView) -> None:
        self.view = view
        self._infos: dict[str, ElfInfo | None] = {}
        try:
            cache_path = self.view.resolve("/etc/ld.so.cache")
            self.cache = ldcache.load(view.host(cache_path.path)) if cache_path.exists else []
            self.cache_error: str | None = None
        except ldcache.LdCacheError as err:
            self.cache, self.cache_error = [], str(err)

    def info(self, path: str) -> ElfInfo | None:
        if path not in self._infos:
            self._infos[path] = read_elf(self.view, path)
        return self._infos[path]

    def closure(self, executables: Iterable[str], reason: str, into: Closure | None = None) -> Closure:
        result = into or Closure()
        if self.cache_error:
            result.errors.append(self.cache_error)
        for exe in executables:
            self._visit(exe, reason, (), result)
        return result

    def _keep_resolved(self, path: str, reason: str, result: Closure) -> str | None:
        resolved = self.view.resolve(path)
        for link in resolved.links:
            result.add(link, reason)
        if not resolved.exists:
            return None
        result.add(resolved.path, reason)
        return resolved.path

    def _visit(self, path: str, reason: str, loaders: tuple[ElfInfo, ...], result: Closure) -> None:
        real = self._keep_resolved(path, reason, result)
        if real is None or real in {ld.path for ld in loaders}:
            return
        st = self.view.lstat(real)
        if st is None or not stat.S_ISREG(st.st_mode):
            return
        try:
            info = self.info(real)
        except MalformedElf as err:
            result.errors.append(str(err))
            return
        if info is None:
            return
        if real in result.keep and "elf-visited" in result.keep[real]:
            return
        result.keep[real].add("elf-visited")
        if info.interp:
            self._visit(info.interp, f"{reason} (interpreter of {real})", (*loaders, info), result)
        for soname in info.needed:
            lib = self._find_library(soname, info, loaders)
            if lib is None:
                result.missing.setdefault(soname, set()).add(real)
                continue
            self._visit(lib, f"{reason} (needed by {real})", (*loaders, info), result)

    def _expand(self, entry: str, obj: ElfInfo) -> str:
        lib_dir, _flag, platform = _MACHINE_LIB.get((obj.machine, obj.elf_class), ("lib", None, ""))
        origin = posixpath.dirname(obj.path)
        for token, value in (("$ORIGIN", origin), ("${ORIGIN}", origin), ("$LIB", "lib/" + lib_dir),
                             ("${LIB}", "lib/" + lib_dir), ("$PLATFORM", platform), ("${PLATFORM}", platform)):
            entry = entry.replace(token, value)
        return entry

    def _matches(self, candidate: str, obj: ElfInfo) -> bool:
        resolved = self.view.resolve(candidate)
        if not resolved.exists:
            return False
        try:
            other = self.info(resolved.path)
        except MalformedElf:
            return False
        return other is not None and other.elf_class == obj.elf_class and other.machine == obj.machine

    def _find_library(self, soname: str, obj: ElfInfo, loaders: tuple[ElfInfo, ...]) -> str | None:
        if "/" in soname:
            return soname if self._matches(soname, obj) else None
        search: list[tuple[str, ElfInfo]] = []
        if not obj.runpath:
            # DT_RPATH of the object, then of each loader up to the executable.
            for holder in (obj, *reversed(loaders)):
                if holder.runpath:
                    break
                search += [(d, holder) for d in holder.rpath]
        search += [(d, obj) for d in obj.runpath]
        for directory, holder in search:
            candidate = posixpath.join(self._expand(directory, holder), soname)
            if candidate.startswith("/") and self._matches(candidate, obj):
                return candidate
        lib_dir, arch_flag, _ = _MACHINE_LIB.get((obj.machine, obj.elf_class), ("", None, ""))
        cached = ldcache.lookup(self.cache, soname, arch_flag)
        if cached and self._matches(cached, obj):
            return cached
        defaults = [f"/lib/{lib_dir}", f"/usr/lib/{lib_dir}"] if lib_dir else []
        defaults += ["/lib64", "/usr/lib64"] if obj.elf_class == 64 else []
        defaults += ["/lib", "/usr/lib"]
        for directory in defaults:
            candidate = posixpath.join(directory, soname)
            if self._matches(candidate, obj):
                return candidate
        return None
