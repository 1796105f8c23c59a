"""Keeps the package databases of a minimized image truthful.

A scan of the result must not report packages whose files are gone, and must say which files
of each kept package remain. So the dpkg status file (and distroless ``status.d``), the apk
installed database and Python ``*.dist-info`` directories are rewritten: a package stays when
at least one file it owns (not counting directories) is kept, and its file list is cut down to
what is kept. Databases are hostile input: an unreadable one is recorded and left out.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Set
from dataclasses import dataclass, field

from hardbox.minimize.rootview import RootView
from hardbox.scan.catalog import apk

DPKG = "/var/lib/dpkg"
_MAX_DB = 64 * 1024 * 1024


@dataclass
class DatabaseEdit:
    """Files to write in place of the originals, paths to leave out, and what changed."""

    overrides: dict[str, bytes] = field(default_factory=dict)
    kept_packages: list[str] = field(default_factory=list)
    removed_packages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    keep: set[str] = field(default_factory=set)  # database files/dirs the result must carry
    drop: set[str] = field(default_factory=set)  # trees to leave out even if a probe read them


def _read(view: RootView, path: str) -> bytes | None:
    resolved = view.resolve(path)
    if not resolved.exists:
        return None
    host = view.host(resolved.path)
    if not host.is_file() or host.stat().st_size > _MAX_DB:
        return None
    return host.read_bytes()


def _owned(files: list[str], kept: Set[str], view: RootView) -> tuple[list[str], bool]:
    """The kept subset of a package's files and whether any non-directory survived.

    Package databases name files by the path the package shipped (``/bin/bash``); on a
    merged-/usr image that path crosses a symlink (``/bin -> usr/bin``), so it is compared
    after resolving its directories inside the image.
    """
    survivors = []
    alive = False
    for path in files:
        canonical = path if path in kept else view.resolve(path, follow_last=False).path
        if canonical not in kept:
            continue
        survivors.append(path)
        # A directory, or a symlink to one (/lib on a merged-/usr system), is not content.
        resolved = view.resolve(path)
        st = view.lstat(resolved.path) if resolved.exists else None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            alive = True
    return survivors, alive


def _dpkg(view: RootView, kept: Set[str], edit: DatabaseEdit) -> None:
    status = _read(view, f"{DPKG}/status")
    if status is None:
        return
    paragraphs = re.split(rb"\n\s*\n", status)
    out: list[bytes] = []
    for para in paragraphs:
        if not para.strip():
            continue
        m = re.search(rb"^Package: *(\S+)", para, re.M)
        if not m:
            edit.errors.append(f"{DPKG}/status: a paragraph without Package: was dropped")
            continue
        name = m.group(1).decode()
        arch_m = re.search(rb"^Architecture: *(\S+)", para, re.M)
        arch = arch_m.group(1).decode() if arch_m else ""
        list_path = next(
            (p for p in (f"{DPKG}/info/{name}:{arch}.list", f"{DPKG}/info/{name}.list")
             if view.resolve(p).exists), None)
        raw = _read(view, list_path) if list_path else None
        files = raw.decode("utf-8", "surrogateescape").splitlines() if raw else []
        survivors, alive = _owned(files, kept, view)
        if not alive:
            edit.removed_packages.append(f"deb:{name}")
            continue
        edit.kept_packages.append(f"deb:{name}")
        out.append(para.strip(b"\n"))
        assert list_path is not None
        edit.overrides[list_path] = "".join(f"{p}\n" for p in survivors).encode("utf-8", "surrogateescape")
        md5_path = list_path[: -len(".list")] + ".md5sums"
        md5 = _read(view, md5_path)
        if md5 is not None:
            wanted = {p.lstrip("/") for p in survivors}
            lines = [ln for ln in md5.splitlines(keepends=True) if ln[34:].strip().decode("utf-8", "replace") in wanted]
            edit.overrides[md5_path] = b"".join(lines)
    edit.overrides[f"{DPKG}/status"] = b"\n\n".join(out) + b"\n"


def _apk(view: RootView, kept: Set[str], edit: DatabaseEdit) -> None:
    """A record stays when a file it names is kept, without the lines of the files that are
    not (their ``R:``, and the ``a:``/``Z:`` lines that describe them, which would otherwise
    describe the file named before); read as the scan reads it (``apk.records``)."""
    db = _read(view, apk.INSTALLED_DB)
    if db is None:
        return
    out = []
    for lines in apk.records(db.decode("utf-8", "replace")):
        name = next((line.value for line in lines if line.key == "P"), "")
        if not any(line.path in kept for line in lines if line.key == "R"):
            edit.removed_packages.append(f"apk:{name}")
            continue
        edit.kept_packages.append(f"apk:{name}")
        out.append("\n".join(line.text for line in lines if line.path is None or line.path in kept))
    edit.overrides[apk.INSTALLED_DB] = ("\n\n".join(out) + "\n\n").encode()


_SITE_GLOBS = ("usr/lib/python3*/*-packages/*.dist-info", "usr/local/lib/python3*/*-packages/*.dist-info",
               "opt/*/lib/python3*/site-packages/*.dist-info", "app/*/lib/python3*/site-packages/*.dist-info")


def _python(view: RootView, kept: Set[str], edit: DatabaseEdit) -> None:
    """A distribution stays (its whole dist-info kept) when a file its RECORD lists is kept."""
    for pattern in _SITE_GLOBS:
        for host in sorted(view.root.glob(pattern)):
            path = "/" + str(host.relative_to(view.root))
            record = _read(view, f"{path}/RECORD")
            if record is None:
                continue
            site = posixpath.dirname(path)
            files = [posixpath.normpath(posixpath.join(site, line.split(",")[0]))
                     for line in record.decode("utf-8", "replace").splitlines() if line]
            owned = [f for f in files if not f.startswith(path + "/")]
            name = posixpath.basename(path)
            if any(f in kept for f in owned):
                edit.kept_packages.append(f"python:{name}")
                edit.keep.update(f"{path}/{c.name}" for c in host.iterdir())
                edit.keep.add(path)
            else:
                edit.removed_packages.append(f"python:{name}")
                edit.drop.add(path)


def truthful_databases(view: RootView, kept: Set[str]) -> DatabaseEdit:
    edit = DatabaseEdit()
    for reader in (_dpkg, _apk, _python):
        try:
            reader(view, kept, edit)
        except (OSError, UnicodeError, ValueError) as err:
            edit.errors.append(f"{reader.__name__.strip('_')} database: {err}")
    return edit
