"""``hardbox image fsck``: check the store's metadata and content, and set damage aside.

``check_store(root)`` reads every image record (``images/*.json``), ``tags.json``, every
layer record (``layers/<hex>.json``) and its directory, and hashes every blob. It never
writes unless ``repair=True``; then, holding the writers' lock, it rebuilds the index from
what is sound:

- a file that cannot be read as what it should be (a truncated record, a blob whose sha256
  is not its name, a damaged layer record) is *moved* into ``lost+found/<time>/`` under the
  store root, at the same relative path: nothing is silently deleted;
- an image record whose manifest, config or layer blobs, or unpacked layer directories, are
  gone or damaged is moved aside the same way (re-import the image to get it back);
- ``tags.json`` is rewritten with only the tags that name a sound image (the old file is
  kept in ``lost+found/``).

What is left is a store every command can read; ``image prune`` then collects the blobs and
layers no sound image references. The report's JSON shape is documented in
docs/cli-image.md. Fuzz and fault tests call ``check_store`` after each input as the
store's consistency check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_HEX = re.compile(r"^[a-f0-9]{64}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
QUARANTINE = "lost+found"


@dataclass(frozen=True)
class Problem:
    """One piece of damage: ``kind`` is ``tags``, ``image-record``, ``layer-record``,
    ``layer-dir``, ``blob`` or ``tag``; ``path`` is relative to the store root."""

    kind: str
    path: str
    detail: str
    action: str = ""  # what --repair did about it ("" when not repairing)


@dataclass
class FsckReport:
    """What ``check_store`` found (and, with ``repair``, did)."""

    root: str
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    repaired: bool = False
    quarantine: str | None = None  # the lost+found folder damage was moved to

    @property
    def clean(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "clean": self.clean, "repaired": self.repaired,
                "checked": dict(self.checked), "quarantine": self.quarantine,
                "problems": [asdict(p) for p in self.problems]}


class _Checker:
    def __init__(self, root: Path, repair: bool) -> None:
        self.root = root
        self.repair = repair
        self.report = FsckReport(root=str(root), repaired=repair)
        self._quarantine: Path | None = None

    # -- helpers -------------------------------------------------------------------------

    def problem(self, kind: str, path: Path, detail: str, action: str = "") -> None:
        self.report.problems.append(
            Problem(kind, str(path.relative_to(self.root)), detail, action if self.repair else ""))

    def set_aside(self, path: Path) -> None:
        """Move ``path`` into the quarantine folder at its relative path (a rename: same
        file system, atomic, nothing copied or lost)."""
        if not self.repair or not os.path.lexists(path):
            return
        if self._quarantine is None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            base = self.root / QUARANTINE / f"{stamp}-{os.getpid()}"
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._quarantine = base
            self.report.quarantine = str(base.relative_to(self.root))
        dest = self._quarantine / path.relative_to(self.root)
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.rename(path, dest)

    def _entries(self, directory: Path) -> list[Path]:
        try:
            return sorted(directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    # -- the checks ----------------------------------------------------------------------

    def blobs(self) -> set[str]:
        """Hash every blob; the digests of the sound ones."""
        sound: set[str] = set()
        for path in self._entries(self.root / "blobs" / "sha256"):
            self.report.checked["blobs"] = self.report.checked.get("blobs", 0) + 1
            if not _HEX.match(path.name):
                continue  # not a blob name: nothing refers to it, prune leaves it
            try:
                digest = _sha256_file(path)
            except OSError as err:
                self.problem("blob", path, f"unreadable: {err.strerror}", "moved aside")
                self.set_aside(path)
                continue
            if digest != path.name:
                self.problem("blob", path, f"content hashes to sha256:{digest}", "moved aside")
                self.set_aside(path)
                continue
            sound.add(f"sha256:{path.name}")
        return sound

    def layers(self) -> set[str]:
        """Check every layer record and directory; the diff_ids of the sound layers."""
        directory = self.root / "layers"
        entries = self._entries(directory)
        keys = {p.name.removesuffix(".json") for p in entries if _HEX.match(p.name.removesuffix(".json"))}
        sound: set[str] = set()
        for key in sorted(keys):
            self.report.checked["layers"] = self.report.checked.get("layers", 0) + 1
            meta, data = directory / f"{key}.json", directory / key
            has_dir = data.is_dir() and not data.is_symlink()
            try:
                record = json.loads(meta.read_bytes())
                error = _layer_record_error(record, key)
            except FileNotFoundError:
                error = "missing" if has_dir else None
            except (OSError, ValueError) as err:
                error = f"unreadable ({err})"
            if error is not None:
                self.problem("layer-record", meta, error, "moved aside with its directory")
            if not has_dir:
                if meta.exists():
                    self.problem("layer-dir", data, "missing", "record moved aside")
                self.set_aside(meta)
                continue
            if error is not None:
                self.set_aside(meta)
                self.set_aside(data)
                continue
            sound.add(f"sha256:{key}")
        return sound

    def images(self, blobs: set[str], layers: set[str]) -> set[str]:
        """Check every image record against the sound blobs and layers; sound manifests."""
        sound: set[str] = set()
        for path in self._entries(self.root / "images"):
            if not path.name.endswith(".json"):
                continue
            self.report.checked["images"] = self.report.checked.get("images", 0) + 1
            try:
                obj = json.loads(path.read_bytes())
                error = _image_record_error(obj, path.name.removesuffix(".json"))
            except (OSError, ValueError) as err:
                obj, error = None, f"unreadable ({err})"
            if error is None:
                assert isinstance(obj, dict)
                needed = [obj["manifest"], obj["config"]] + [la["digest"] for la in obj["layers"]]
                gone = [d for d in needed if d not in blobs]
                gone_layers = [la["diff_id"] for la in obj["layers"] if la["diff_id"] not in layers]
                if gone:
                    error = f"blob {gone[0]} is missing or damaged"
                elif gone_layers:
                    error = f"unpacked layer {gone_layers[0]} is missing or damaged"
            if error is not None:
                self.problem("image-record", path, error, "moved aside (re-import the image)")
                self.set_aside(path)
                continue
            assert isinstance(obj, dict)
            sound.add(obj["manifest"])
        return sound

    def tags(self, images: set[str]) -> None:
        path = self.root / "tags.json"
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            self.problem("tags", path, f"unreadable ({err})", "moved aside; no tags kept")
            self.set_aside(path)
            return
        if not isinstance(raw, dict):
            self.problem("tags", path, f"not a JSON object but {type(raw).__name__}",
                         "moved aside; no tags kept")
            self.set_aside(path)
            return
        self.report.checked["tags"] = len(raw)
        kept = {}
        for name, target in raw.items():
            if not isinstance(target, str) or not _DIGEST.match(target):
                self.problem("tag", path, f"tag {name!r} holds {target!r}, not a digest", "dropped")
            elif target not in images:
                self.problem("tag", path, f"tag {name!r} names {target}, which is not a sound image",
                             "dropped")
            else:
                kept[name] = target
        if self.repair and len(kept) != len(raw):
            # The new file is complete in tmp/ before the old one leaves: a reader sees one
            # or the other, and a kill in between leaves no tags rather than half of them.
            tmp = self.root / "tmp" / f".tags.json.fsck.{os.getpid()}"
            tmp.parent.mkdir(mode=0o700, exist_ok=True)
            tmp.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
            self.set_aside(path)
            os.rename(tmp, path)


def check_store(root: Path | str, *, repair: bool = False) -> FsckReport:
    """Check the store at ``root``; with ``repair``, set damage aside (see the module doc).
    Read-only without ``repair``: it works on a read-only store."""
    root = Path(root)
    checker = _Checker(root, repair)
    if repair:
        from hardbox.errors import StoreError
        from hardbox.image.store.locking import locked

        if root.is_dir() and os.statvfs(root).f_flag & os.ST_RDONLY:
            raise StoreError(f"image fsck --repair: the image store at {root} is read-only",
                             "remount it read-write to repair; without --repair fsck only reads")

        with locked(root / "lock"):
            _run(checker)
    else:
        _run(checker)
    return checker.report


def _run(checker: _Checker) -> None:
    blobs = checker.blobs()
    layers = checker.layers()
    images = checker.images(blobs, layers)
    checker.tags(images)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _image_record_error(obj: object, key: str) -> str | None:
    """Why ``obj`` is not a sound ``images/<key>.json`` (None when it is)."""
    if not isinstance(obj, dict):
        return f"not a JSON object but {type(obj).__name__}"
    for name in ("manifest", "config"):
        if not isinstance(obj.get(name), str) or not _DIGEST.match(obj[name]):
            return f"field {name!r} is not a sha256 digest"
    if obj["manifest"] != f"sha256:{key}":
        return f"names manifest {obj['manifest']}, not the one its file name says"
    if not isinstance(obj.get("imported"), str):
        return "field 'imported' is not a string"
    layers = obj.get("layers")
    if not isinstance(layers, list):
        return "field 'layers' is not a list"
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or set(layer) != {"digest", "diff_id", "media_type", "size",
                                                          "blob_size"}:
            return f"layer {i} does not have the fields of a layer record"
        if not all(isinstance(layer[k], str) and _DIGEST.match(layer[k]) for k in ("digest", "diff_id")):
            return f"layer {i}: digest or diff_id is not a sha256 digest"
        if not isinstance(layer["media_type"], str) or not all(
                isinstance(layer[k], int) and layer[k] >= 0 for k in ("size", "blob_size")):
            return f"layer {i}: media_type or sizes have the wrong type"
    return None


def _layer_record_error(obj: object, key: str) -> str | None:
    """Why ``obj`` is not a sound ``layers/<key>.json`` (an unpack result, layers/unpack.py)."""
    from hardbox.image.layers.unpack import LayerResult

    if not isinstance(obj, dict):
        return f"not a JSON object but {type(obj).__name__}"
    try:
        result = LayerResult.from_json(obj)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        return f"not a layer record ({err})"
    if result.diff_id != f"sha256:{key}":
        return f"names diff_id {result.diff_id}, not the one its file name says"
    return None
