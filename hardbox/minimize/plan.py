"""What a minimized image keeps, and why.

A plan combines the static closure (entrypoint and probe executables, their ELF closure and
the run-time rules), the paths the probes touched when traced, and the user's ``--keep``
paths. Every kept path carries its reasons; every parent directory of a kept path is kept so
the tree stays walkable. The plan is pure data: ``build`` writes it, the report explains it.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hardbox.minimize.elf import Closure, ElfResolver
from hardbox.minimize.rootview import RootView
from hardbox.minimize.rules import RuleContext, apply_rules, interpreter_of

# Kept whatever the probes did: mount points the runtime needs to exist in the root.
MOUNT_POINTS = ("/proc", "/dev", "/sys", "/tmp", "/run")
_PATH_DEFAULT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class KeptPath:
    path: str
    reasons: tuple[str, ...]
    size: int
    kind: str  # "file", "dir", "symlink", "other"


@dataclass(frozen=True)
class Plan:
    kept: Mapping[str, KeptPath]
    errors: tuple[str, ...]
    missing_libraries: Mapping[str, tuple[str, ...]]

    @property
    def size(self) -> int:
        return sum(k.size for k in self.kept.values())


def which(view: RootView, command: str, env_path: str | None) -> str | None:
    """Find a command as execvp would, inside the image (absolute names taken as they are)."""
    if "/" in command:
        return posixpath.normpath(posixpath.join("/", command))
    for directory in (env_path or _PATH_DEFAULT).split(":"):
        candidate = posixpath.join(directory or "/", command)
        resolved = view.resolve(candidate)
        if resolved.exists:
            st = view.lstat(resolved.path)
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                return candidate
    return None


def static_roots(view: RootView, commands: Iterable[list[str]], env_path: str | None) -> list[tuple[str, str]]:
    """(executable, reason) for each command's program and its shebang interpreters."""
    roots: list[tuple[str, str]] = []
    for index, argv in enumerate(commands):
        if not argv:
            continue
        reason = "entrypoint" if index == 0 else f"probe {index}"
        exe = which(view, argv[0], env_path)
        if exe is None:
            continue
        roots.append((exe, reason))
        for interp in interpreter_of(view, exe):
            roots.append((interp, f"{reason} (interpreter of {exe})"))
    return roots


def make_plan(
    view: RootView,
    *,
    commands: Iterable[list[str]],
    env_path: str | None,
    user: str,
    traced: Mapping[str, str] | None = None,
    opened: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> Plan:
    """Combine the static reading, the traced paths (path → reason) and ``--keep`` paths.

    A traced path is kept; only those in ``opened`` (read or executed, not merely stat()ed,
    as ``ls -l`` does to a whole directory) pull in their ELF closure.
    """
    opened = set(opened)
    resolver = ElfResolver(view)
    closure = Closure()
    for exe, reason in static_roots(view, commands, env_path):
        resolver.closure([exe], reason, closure)
    apply_rules(RuleContext(view, resolver, closure, user))
    for path, reason in sorted((traced or {}).items()):
        resolved = view.resolve(path)
        for link in resolved.links:
            closure.add(link, reason)
        if resolved.exists:
            closure.add(resolved.path, reason)
            if path in opened:
                resolver.closure([resolved.path], reason, closure)
    for path in keep:
        resolved = view.resolve(path)
        for link in resolved.links:
            closure.add(link, "--keep")
        if resolved.exists:
            closure.add(resolved.path, "--keep")
            base = view.host(resolved.path)
            if base.is_dir() and not base.is_symlink():
                for sub in sorted(base.rglob("*")):
                    closure.add("/" + str(sub.relative_to(view.root)), f"--keep {path}")
    for mount_point in MOUNT_POINTS:
        if view.lstat(mount_point) is not None:
            closure.add(mount_point, "rule:mount point")
    return _finish(view, closure)


def _finish(view: RootView, closure: Closure) -> Plan:
    kept: dict[str, KeptPath] = {}
    for path, reasons in closure.keep.items():
        clean = sorted(r for r in reasons if r != "elf-visited")
        _add(view, kept, path, tuple(clean) or ("elf closure",))
        parent = posixpath.dirname(path)
        while parent not in ("/", ""):
            if parent not in kept:
                _add(view, kept, parent, (f"parent of {path}",))
            parent = posixpath.dirname(parent)
    missing = {name: tuple(sorted(users)) for name, users in closure.missing.items()}
    return Plan(dict(sorted(kept.items())), tuple(closure.errors), missing)


def _add(view: RootView, kept: dict[str, KeptPath], path: str, reasons: tuple[str, ...]) -> None:
    st = view.lstat(path)
    if st is None:
        return
    if stat.S_ISREG(st.st_mode):
        kind, size = "file", st.st_size
    elif stat.S_ISDIR(st.st_mode):
        kind, size = "dir", 0
    elif stat.S_ISLNK(st.st_mode):
        kind, size = "symlink", 0
    else:
        kind, size = "other", 0
    if path in kept:
        reasons = tuple(sorted(set(kept[path].reasons) | set(reasons)))
    kept[path] = KeptPath(path, reasons, size, kind)
