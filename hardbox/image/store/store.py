"""The content-addressed image store (docs/architecture.md, "image → everything above").

Layout under the root (created 0700: unpacked layers hold setuid files no other user may
reach)::

    blobs/sha256/<hex>        manifests, configs, layer blobs; verified before they land here
    layers/<diff_id hex>/     each layer unpacked once (overlayfs lower dir), shared
    layers/<diff_id hex>.json what applying that layer skipped, and its unpacked size
    images/<manifest hex>.json one record per stored image
    tags.json                 full reference -> manifest digest (tags move)
    tmp/                      staging for imports: a rename away from the store
    partial-blobs/<hex>.part  layer downloads a pull did not finish, resumed by the next pull
                              (image/registry/pull.py); `image prune` removes them
    userns.json               only in a rootless store: the id map its layers were unpacked
                              with (shifted.py); runs must use the same map
    lock                      writers (import, tag, rm, prune) hold it exclusively

Everything lands by ``rename`` from ``tmp/``, so a reader never sees half a blob, half a
layer or half a tags file, and a killed writer leaves only a stale ``tmp/`` entry, removed
at the next open. Readers take no lock.

A store on a read-only mount opens read-only (``Store.open`` tries nothing it need not:
no mkdir, chmod or clean-up): ls, inspect, scan, sbom, gate and export read it as usual, and
a writer is refused in one line by ``writing()``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.errors import InvalidImage, StoreError, naming_os_errors
from hardbox.image.digest import hex_of
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.manifest import Manifest
from hardbox.image.store.images import ImageRecord, StoredImage, StoredLayer
from hardbox.image.store.locking import HeldLock, fresh_lock, locked, try_lock
from hardbox.image.store.resolve import resolve
from hardbox.image.userns import remove_shifted
from hardbox.root import default_root as default_root

SHIFT_FILE = "userns.json"  # see the layout above and image/store/shifted.py
PARTIALS = "partial-blobs"  # see the layout above
# The hint of every error a damaged store file raises: fsck finds it and --repair sets it aside.
FSCK_HINT = "run `hardbox image fsck` to see what is damaged, and `--repair` to set it aside"


@dataclass
class WriteStats:
    """What this Store object wrote: lets a test prove that shared layers are not rewritten."""

    blobs_written: int = 0
    blob_bytes: int = 0
    layers_unpacked: int = 0


def remove_tree(path: Path) -> None:
    """Remove a directory an image wrote, whatever modes its entries have: a layer may hold
    0500 directories that even their owner cannot empty without a chmod first."""

    def fix(func: Callable[..., Any], failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, stat.S_IRWXU, follow_symlinks=False)
        func(failed)

    if not path.is_dir() or path.is_symlink():
        path.unlink(missing_ok=True)
        return
    import shutil  # removing only: not on `hardbox run`'s path

    try:
        shutil.rmtree(path, onerror=fix)
    except PermissionError:
        if not remove_shifted(path, fix):
            raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """One store root. ``Store.open()`` creates it if needed and removes stale temp files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.layers = root / "layers"
        self.images_dir = root / "images"
        self.tmp = root / "tmp"
        self.tags_file = root / "tags.json"
        self.lock_file = root / "lock"
        self.shift_file = root / SHIFT_FILE
        self.partials = root / PARTIALS
        self.stats = WriteStats()
        self.read_only = False

    @classmethod
    def open(cls, root: Path | None = None, *, read_only: bool = False) -> Store:
        """The store at ``root`` (default: the hardbox root), created if missing. With
        ``read_only``, or when the store sits on a read-only mount, nothing is written and
        ``writing()`` refuses."""
        store = cls(root or default_root())
        if read_only or store._on_read_only_mount():
            if not store.root.is_dir():
                raise StoreError(f"no image store at {store.root}",
                                 "import an image first, or set $HARDBOX_ROOT to a store")
            store.read_only = True
            return store
        store._create()
        store.clean_stale()
        return store

    def _on_read_only_mount(self) -> bool:
        """An existing store whose file system is mounted read-only (statvfs ST_RDONLY)."""
        try:
            return self.root.is_dir() and bool(os.statvfs(self.root).f_flag & os.ST_RDONLY)
        except OSError:
            return False

    def _create(self) -> None:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir honours the umask; the mode is the point, so set it explicitly.
            os.chmod(self.root, 0o700)
            for d in (self.blobs, self.layers, self.images_dir, self.tmp):
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot create the image store at {self.root}: {err.strerror}",
                "set $HARDBOX_ROOT to a directory you can write",
            ) from None

    # -- locking and staging -------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writers' lock: imports, tag, rm and prune run one at a time."""
        if self.read_only:
            raise StoreError(f"the image store at {self.root} is read-only",
                             "remount it read-write, or set $HARDBOX_ROOT to a store you can write")
        with locked(self.lock_file):
            yield

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh directory in ``tmp/``, locked while in use and removed afterwards. A
        read-only store's readers (export) get a private one under $TMPDIR instead."""
        if self.read_only:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="hardbox-stage-") as scratch:
                yield Path(scratch)
            return
        name = f"{os.getpid()}-{os.urandom(6).hex()}"
        lock = fresh_lock(self.tmp / f"{name}.lock")
        path = self.tmp / name
        path.mkdir(mode=0o700)
        try:
            yield path
        finally:
            remove_tree(path)
            (self.tmp / f"{name}.lock").unlink(missing_ok=True)
            lock.release()

    def clean_stale(self) -> list[str]:
        """Remove ``tmp/`` entries whose owner died (their lock is free). Skipped when a
        writer is active: it will be cleaned by a later open."""
        writers = try_lock(self.lock_file)
        if writers is None:
            return []
        removed = []
        try:
            for entry in sorted(self.tmp.iterdir()):
                if entry.name.endswith(".lock"):
                    if not (self.tmp / entry.name.removesuffix(".lock")).exists():
                        self._remove_if_unlocked(entry, entry)
                    continue
                if self._remove_if_unlocked(entry, self.tmp / f"{entry.name}.lock"):
                    removed.append(entry.name)
        finally:
            writers.release()
        return removed

    def _remove_if_unlocked(self, entry: Path, lock_path: Path) -> bool:
        lock: HeldLock | None = try_lock(lock_path)
        if lock is None:
            return False
        try:
            remove_tree(entry)
            lock_path.unlink(missing_ok=True)
        finally:
            lock.release()
        return True

    # -- paths ---------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def layer_path(self, diff_id: str) -> Path:
        return self.layers / hex_of(diff_id)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_path(diff_id).is_dir() and self.layer_meta_path(diff_id).is_file()

    def layer_meta_path(self, diff_id: str) -> Path:
        return self.layers / f"{hex_of(diff_id)}.json"

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"store {self.root}: blob {digest} is missing", FSCK_HINT) from None

    # -- metadata files ------------------------------------------------------------------

    def write_file(self, path: Path, data: bytes) -> None:
        """Atomically replace ``path``: temp file in ``tmp/``, fsync, rename."""
        tmp = self.tmp / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}"
        try:
            with naming_os_errors("write", path), open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.rename(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def tags(self) -> dict[str, str]:
        """Full reference -> manifest digest."""
        try:
            data = json.loads(self.tags_file.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as err:  # not JSON, or not UTF-8
            raise StoreError(f"{self.tags_file}: damaged ({err})", FSCK_HINT) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise StoreError(f"{self.tags_file}: damaged (not an object of name -> digest)",
                             FSCK_HINT)
        return data

    def write_tags(self, tags: dict[str, str]) -> None:
        """Caller holds ``writing()``."""
        self.write_file(self.tags_file, json.dumps(tags, indent=1, sort_keys=True).encode())

    def records(self) -> dict[str, ImageRecord]:
        """Manifest digest -> record, for every stored image."""
        out = {}
        for path in self.images_dir.glob("*.json"):
            try:
                record = ImageRecord.from_obj(json.loads(path.read_bytes()))
            except FileNotFoundError:
                continue  # removed by a concurrent rm
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise StoreError(f"{path}: damaged image record ({err!r})", FSCK_HINT) from None
            out[record.manifest] = record
        return out

    def record_path(self, manifest_digest: str) -> Path:
        return self.images_dir / f"{hex_of(manifest_digest)}.json"

    # -- reading images ------------------------------------------------------------------

    def images(self) -> list[StoredImage]:
        """Every stored image, newest import first."""
        tags = self.tags()
        images = [self._image(rec, tags) for rec in self.records().values()]
        return sorted(images, key=lambda im: (im.imported or "", im.id), reverse=True)

    def get(self, ref: str) -> StoredImage:
        """An image by reference (``bbtest``, ``quay.io/x/y:1``), ``name@sha256:…``,
        manifest digest, id (config digest) or a unique id prefix."""
        records = self.records()
        return self._image(records[self.resolve(ref, records)], self.tags())

    def resolve(self, ref: str, records: dict[str, ImageRecord] | None = None) -> str:
        """The manifest digest ``ref`` names; ``ImageNotFound`` if none."""
        records = self.records() if records is None else records
        return resolve(ref, records, self.tags(), self.root)

    def _image(self, record: ImageRecord, tags: dict[str, str]) -> StoredImage:
        config_source = str(self.blob_path(record.config))
        try:
            config = ImageConfig.from_json(self.read_blob(record.config), config_source)
            manifest = Manifest.from_json(self.read_blob(record.manifest),
                                          str(self.blob_path(record.manifest)))
        except InvalidImage as err:  # verified when stored, so the store was damaged since
            raise StoreError(f"store {self.root}: {err.message}", FSCK_HINT) from None
        made_by = config.layer_history()
        layers = tuple(
            StoredLayer(
                index=i,
                diff_id=layer.diff_id,
                digest=layer.digest,
                media_type=layer.media_type,
                size=layer.size,
                created_by=made_by[i].created_by if made_by[i] is not None else "",  # type: ignore[union-attr]
                path=self.layer_path(layer.diff_id),
            )
            for i, layer in enumerate(record.layers)
        )
        return StoredImage(
            id=record.config,
            manifest_digest=record.manifest,
            tags=tuple(sorted(name for name, d in tags.items() if d == record.manifest)),
            config=config,
            layers=layers,
            manifest=manifest,
            imported=record.imported,
        )
