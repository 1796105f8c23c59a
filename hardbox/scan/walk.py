"""The one walk over an image's files: every cataloger and check reads the image through it.

``walk(image, visitors)`` reads each layer directory once, newest to oldest, and computes the
merged view overlayfs would show (docs/architecture.md, "Unpacked layer format"): a whiteout
is a character device 0/0 with the deleted name, an opaque directory carries the xattr
``trusted.overlay.opaque=y`` or ``user.overlay.opaque=y`` and hides everything below it in
older layers (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories").

Each file reaches a visitor as an ``ImageFile``: its image path, the ``LayerRef`` of the layer
that brought it, its stat, the host path to read it from, and — for files a later layer
deleted or replaced — ``hidden_by``, so checks can see a secret deleted in a later layer that
still ships in an earlier one. Whiteout entries themselves are markers, not files, and are
not visited. A directory present in several layers reaches visitors once per layer; the
older copies are ``hidden_by`` the newer one, whose metadata overlayfs shows.

The walk also counts, per layer, the regular files (and their bytes) that later layers
delete or replace (``MergedView.shadowed``): they still ship in that layer's tar. It is the
only place that count is made; the scan's layer table and the wasted-space check both read it.
A visitor that needs it, or anything else of the finished view, before it is asked for its
results defines ``walked(view)``, which the walk calls once at the end.

Reading never follows a symlink out of a layer: the walk does not follow links, and
``ImageFile.open`` refuses one (``O_NOFOLLOW``). A cataloger that must follow a link in the
image resolves it through ``MergedView.resolve``, which stays inside the image root. Like
``find -xdev``, the walk does not descend into another filesystem mounted inside a layer
(``dir:/`` of a live system has /proc and /sys); what it could not read is listed in
``MergedView.errors``.
"""

from __future__ import annotations

import operator
import os
import posixpath
import stat
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable

from hardbox.findings import LayerRef

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
# Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS, fs/namei.c).
_MAX_SYMLINK_HOPS = 40


class FileTooLarge(ValueError):
    """A file is bigger than a reader is willing to load; the reader records and skips it."""


class LayerSource(Protocol):
    """What the walk needs of one layer: ``StoredLayer`` and ``ImageView`` layers fit."""

    @property
    def path(self) -> Path: ...
    @property
    def diff_id(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def created_by(self) -> str: ...


class ImageSource(Protocol):
    """An image as the walk sees it: its layers, oldest first."""

    @property
    def layers(self) -> Sequence[LayerSource]: ...


class Visitor(Protocol):
    """A reader of image files. ``name`` is path-like ("os/dpkg", "secrets/aws");
    ``wants`` is asked for every path and must be cheap; ``visit`` gets the files it wanted."""

    @property
    def name(self) -> str: ...
    def wants(self, path: str) -> bool: ...
    def visit(self, file: ImageFile) -> None: ...


@runtime_checkable
class WalkListener(Protocol):
    """A visitor that wants the finished view: ``walked`` is called once, after the last
    file of the last layer."""

    def walked(self, view: MergedView) -> None: ...


class ImageFile(NamedTuple):
    """One entry of one layer. ``path`` is absolute in the image ("/etc/passwd");
    ``host_path`` is where to read it on this machine (inside the layer directory);
    ``mode`` is the full ``st_mode``; ``size`` in bytes; ``link_target`` the symlink's target
    as stored (never followed). ``hidden_by`` is the first later layer that deleted or
    replaced this path (or a parent); ``deleted`` is true when the path is gone from the
    merged view altogether rather than replaced.

    Immutable like a frozen dataclass, but a named tuple: the walk makes one per entry of
    every layer, and a tuple is built in a quarter of a frozen dataclass's time (its
    ``__init__`` sets each field through ``object.__setattr__``) — 17 ms of a Debian
    image's SBOM."""

    path: str
    layer: LayerRef
    host_path: str
    mode: int
    uid: int
    gid: int
    size: int
    link_target: str | None = None
    hidden_by: LayerRef | None = None
    deleted: bool = False

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_executable(self) -> bool:
        return self.is_file and bool(self.mode & 0o111)

    @property
    def visible(self) -> bool:
        return self.hidden_by is None

    def open(self) -> BinaryIO:
        """Open for reading without following a symlink; only regular files open."""
        fd = os.open(self.host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(f"{self.path}: not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    def read_bytes(self, max_size: int) -> bytes:
        """The whole file, refusing one larger than ``max_size``: a hostile image may ship a
        multi-gigabyte "package database"."""
        if self.size > max_size:
            raise FileTooLarge(
                f"{self.path}: {self.size} bytes, more than the {max_size} read limit"
            )
        with self.open() as fh:
            data = fh.read(max_size + 1)
        if len(data) > max_size:
            raise FileTooLarge(f"{self.path}: grew past the {max_size} read limit while reading")
        return data

    def read_text(self, max_size: int) -> str:
        return self.read_bytes(max_size).decode("utf-8", errors="replace")


@dataclass
class Shadowed:
    """What one layer ships that later layers hide: regular files, their bytes, and the
    indexes of the later layers that deleted or replaced them."""

    files: int = 0
    bytes: int = 0
    by: set[int] = field(default_factory=set)


@dataclass
class MergedView:
    """The image as a container sees it, after the walk: every visible entry by path."""

    entries: dict[str, ImageFile] = field(default_factory=dict)
    # Entries the walk could not read (permissions, a layer directory gone): "path: reason".
    errors: list[str] = field(default_factory=list)
    # Per layer (only layers that have any), its files hidden by later layers.
    shadowed: dict[LayerRef, Shadowed] = field(default_factory=dict)

    def get(self, path: str) -> ImageFile | None:
        """The visible entry at exactly ``path`` (a symlink is returned, not followed)."""
        entry = self.entries.get(path)  # the common case: an already normal absolute path
        return entry if entry is not None else self.entries.get(_normalise(path))

    def resolve(self, path: str) -> ImageFile | None:
        """Follow symlinks as the kernel would inside a chroot at the image root: absolute
        targets restart at the image root and ``..`` stops there, so no link leaves the image."""
        parts = deque(path.split("/"))
        current = "/"
        hops = 0
        while parts:
            part = parts.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                current = posixpath.dirname(current)
                continue
            candidate = posixpath.join(current, part)
            entry = self.entries.get(candidate)
            if entry is None:
                return None
            if entry.is_symlink and entry.link_target is not None:
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    return None
                target = entry.link_target
                if target.startswith("/"):
                    current = "/"
                parts.extendleft(reversed(target.split("/")))
                continue
            current = candidate
        return self.entries.get(current)

    def files(self) -> Iterator[ImageFile]:
        return iter(self.entries.values())


def _normalise(path: str) -> str:
    norm = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + norm.lstrip("/")


def layer_ref(layer: LayerSource) -> LayerRef:
    return LayerRef(diff_id=layer.diff_id, index=layer.index, created_by=layer.created_by)


# One entry of one layer, as the walk reads it: (image path, host path, lstat result,
# whiteout?, opaque directory?). A plain tuple: the walk makes one per entry of every layer.
_Entry = tuple[str, str, os.stat_result, bool, bool]


def _is_opaque(host_path: str) -> bool:
    # One listxattr(2) per directory; getxattr(2) only when a marker is there at all.
    try:
        names = os.listxattr(host_path, follow_symlinks=False)
    except OSError:
        return False  # ENOTSUP: a filesystem without xattrs has no opaque directories
    for name in _OPAQUE_XATTRS:
        if name in names:
            try:
                if os.getxattr(host_path, name, follow_symlinks=False) == b"y":
                    return True
            except OSError:
                continue  # removed since listed: not opaque
    return False


_by_name = operator.attrgetter("name")


def _scan_layer(root: str, errors: list[str]) -> Iterator[_Entry]:
    """Every entry of one layer directory, parents before children, names sorted so the walk
    is deterministic. Iterative: a hostile image nesting directories thousands deep does not
    exhaust the interpreter's recursion limit."""
    stack: list[tuple[str, str]] = [(root, "/")]
    try:
        device = os.stat(root).st_dev
    except OSError as err:
        errors.append(f"/: cannot read layer directory {root}: {err.strerror}")
        return
    is_dir, is_chr = stat.S_ISDIR, stat.S_ISCHR
    while stack:
        host_dir, image_dir = stack.pop()
        try:
            with os.scandir(host_dir) as it:
                children = sorted(it, key=_by_name)
        except OSError as err:
            errors.append(f"{image_dir}: cannot list {host_dir}: {err.strerror}")
            continue
        subdirs: list[tuple[str, str]] = []
        prefix = image_dir if image_dir == "/" else image_dir + "/"
        for child in children:
            image_path = prefix + child.name
            host_path = child.path
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as err:
                errors.append(f"{image_path}: cannot stat {host_path}: {err.strerror}")
                continue
            mode = st.st_mode
            if is_dir(mode):
                yield image_path, host_path, st, False, _is_opaque(host_path)
                if st.st_dev != device:
                    # Like find -xdev: a store layer is one filesystem, so another one here
                    # is a mount inside a dir: root (/proc, /sys of a live system), not image
                    # content.
                    errors.append(f"{image_path}: another filesystem is mounted here; not walked")
                else:
                    subdirs.append((host_path, image_path))
            else:
                yield image_path, host_path, st, is_chr(mode) and st.st_rdev == 0, False
        stack.extend(reversed(subdirs))


def _ancestors(path: str) -> Iterator[str]:
    parent = posixpath.dirname(path)
    while parent != "/":
        yield parent
        parent = posixpath.dirname(parent)


def walk(image: ImageSource, visitors: Iterable[Visitor]) -> MergedView:
    """Read every layer once and hand each file to the visitors that want its path.

    Layers are read newest first, so when an older layer's entry is reached the walk already
    knows whether a later layer hides it. ``exact`` holds, per path, the lowest later layer
    with an entry there (any entry replaces an older one); ``masks`` holds the lowest later
    layer that hides everything *below* a path (a whiteout, an opaque directory, or a
    non-directory replacing a directory).
    """
    visitors = list(visitors)
    # Bound methods looked up once: the loop below runs once per entry per visitor.
    dispatch = [(visitor.wants, visitor.visit) for visitor in visitors]
    view = MergedView()
    entries = view.entries
    shadowed = view.shadowed
    exact: dict[str, LayerRef] = {}
    masks: dict[str, LayerRef] = {}
    is_dir, is_lnk, is_reg = stat.S_ISDIR, stat.S_ISLNK, stat.S_ISREG
    for layer in reversed(list(image.layers)):
        ref = layer_ref(layer)
        pending_exact: list[str] = []
        pending_masks: list[str] = []
        for path, host_path, st, whiteout, opaque in _scan_layer(str(layer.path), view.errors):
            # Nothing can hide an entry of the newest layer: skip the lookups there.
            hider = _hider(path, exact, masks) if exact else None
            mode = st.st_mode
            pending_exact.append(path)
            if whiteout or opaque or not is_dir(mode):
                pending_masks.append(path)
            if whiteout:
                continue
            link = _readlink(path, host_path, view.errors) if is_lnk(mode) else None
            file = ImageFile(
                path,
                ref,
                host_path,
                mode,
                st.st_uid,
                st.st_gid,
                st.st_size,
                link,
                hider,
                hider is not None and path not in entries,
            )
            if hider is None:
                entries[path] = file
            elif is_reg(mode):
                tally = shadowed.get(ref)
                if tally is None:
                    tally = shadowed[ref] = Shadowed()
                tally.files += 1
                tally.bytes += st.st_size
                tally.by.add(hider.index)
            for wants, visit in dispatch:
                if wants(path):
                    visit(file)
        # Applied after the layer: entries of one layer never hide each other.
        for path in pending_exact:
            exact[path] = ref
        for path in pending_masks:
            masks[path] = ref
    for visitor in visitors:
        if isinstance(visitor, WalkListener):
            visitor.walked(view)
    return view


def _hider(path: str, exact: dict[str, LayerRef], masks: dict[str, LayerRef]) -> LayerRef | None:
    best = exact.get(path)
    if masks:
        for parent in _ancestors(path):
            mask = masks.get(parent)
            if mask is not None and (best is None or mask.index < best.index):
                best = mask
    return best


def _readlink(path: str, host_path: str, errors: list[str]) -> str | None:
    try:
        return os.readlink(host_path)
    except OSError as err:
        errors.append(f"{path}: cannot read link: {err.strerror}")
        return None
