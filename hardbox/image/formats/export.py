"""Writing stored images out: docker archive, OCI layout directory, OCI layout tar.

What comes out is what the peers read: ``skopeo inspect`` and ``docker load`` take the docker
archive (``manifest.json`` + config + uncompressed layer tars, as moby's tarexport writes
it); ``umoci`` and ``skopeo`` take the OCI layout, whose manifest is always an OCI one
(a stored Docker schema-2 manifest is converted: same config bytes and layer blobs, OCI
media types). Exporting into an existing OCI layout adds the image beside those already
there, which is how multi-image layouts are made. Files land atomically (temp + rename).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import BinaryIO

from hardbox.errors import InputError, UsageError, naming_os_errors
from hardbox.image import reference
from hardbox.image.digest import CHUNK, hex_of, sha256_bytes
from hardbox.image.formats.manifest import (
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    REF_NAME,
    Descriptor,
    Index,
    Manifest,
)
from hardbox.image.layers.compression import CorruptStream, open_decompressed
from hardbox.image.store.images import StoredImage
from hardbox.image.store.store import Store, remove_tree

FORMATS = ("docker-archive", "oci", "oci-archive")

_TO_OCI_LAYER = {DOCKER_LAYER_TAR: OCI_LAYER, DOCKER_LAYER_GZIP: OCI_LAYER + "+gzip",
                 "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": OCI_LAYER + "+gzip"}


def export(store: Store, image: StoredImage, out: Path, fmt: str, name: str | None = None) -> None:
    """Write ``image`` to ``out`` as ``fmt``; ``name`` (a full reference) labels it, else
    its tags do."""
    names = [name] if name else list(image.tags)
    # A full disk names what was being written, where: the output, or the store's scratch.
    if fmt == "docker-archive":
        with store.staging() as stage, naming_os_errors("write", out, write_failures_only=True):
            _docker_archive(store, image, out, names, stage)
    elif fmt == "oci":
        with naming_os_errors("write", out, write_failures_only=True):
            _oci_dir(store, image, out, names[0] if names else None)
    elif fmt == "oci-archive":
        with store.staging() as stage:
            layout = stage / "layout"
            with naming_os_errors("write", layout, write_failures_only=True):
                _oci_dir(store, image, layout, names[0] if names else None)
            with naming_os_errors("write", out, write_failures_only=True):
                _tar_tree(layout, out)
    else:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export_stream(store: Store, image: StoredImage, stream: BinaryIO, fmt: str, name: str | None = None) -> None:
    """Write ``image`` as ``fmt`` to ``stream`` (stdout: `hardbox image export -o -`, as
    `docker save` writes to a pipe). Tar formats only: an OCI layout is a directory."""
    if fmt == "oci":
        raise UsageError("--format oci is a directory and cannot be written to stdout",
                         "give -o DIR, or use --format oci-archive for a tar")
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    names = [name] if name else list(image.tags)
    with store.staging() as stage, tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if fmt == "docker-archive":
            _docker_members(tar, store, image, names, stage)
        else:
            layout = stage / "layout"
            with naming_os_errors("write", layout, write_failures_only=True):
                _oci_dir(store, image, layout, names[0] if names else None)
            _tree_members(tar, layout)


def _docker_archive(store: Store, image: StoredImage, out: Path, names: list[str],
                    stage: Path) -> None:
    with _atomic(out) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _docker_members(tar, store, image, names, stage)


def _docker_members(tar: tarfile.TarFile, store: Store, image: StoredImage, names: list[str],
                    stage: Path) -> None:
    config_name = f"{hex_of(image.id)}.json"
    layer_names = [f"{hex_of(layer.diff_id)}/layer.tar" for layer in image.layers]
    manifest = [{
        "Config": config_name,
        "RepoTags": [reference.parse(n).familiar for n in names],
        "Layers": layer_names,
    }]
    _add_bytes(tar, config_name, store.read_blob(image.id))
    for layer, member in zip(image.layers, layer_names, strict=True):
        plain = _uncompressed(store, layer.digest, stage)
        tar.add(plain, arcname=member, recursive=False, filter=_plain_member)
        if plain.parent == stage:  # a decompressed copy, not the stored blob
            plain.unlink()
    _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())


def _uncompressed(store: Store, digest: str, stage: Path) -> Path:
    """The layer blob as a plain tar: the stored blob itself when it is one."""
    source = store.blob_path(digest)
    with open(source, "rb") as raw:
        compression, plain = open_decompressed(raw)
        if compression.value == "none":
            return source
        out = stage / hex_of(digest)
        try:
            with open(out, "wb") as fh:
                while chunk := plain.read(CHUNK):
                    fh.write(chunk)
        except CorruptStream as err:
            raise InputError(f"{source}: stored blob is damaged ({err})",
                             "remove the image and import it again") from None
        return out


def _oci_dir(store: Store, image: StoredImage, out: Path, name: str | None) -> None:
    index = _existing_index(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    assert image.manifest is not None
    manifest_bytes, manifest = _as_oci(store, image)
    for digest in {manifest.config.digest, *(layer.digest for layer in manifest.layers)}:
        _copy_blob(store.blob_path(digest), out, digest)
    manifest_digest = sha256_bytes(manifest_bytes)
    _write(out / "blobs" / "sha256" / hex_of(manifest_digest), manifest_bytes)
    ref_name = reference.parse(name).tag if name else None
    entry = Descriptor(OCI_MANIFEST, manifest_digest, len(manifest_bytes),
                       {REF_NAME: ref_name} if ref_name else {})
    kept = [d for d in index if not (ref_name and d.ref_name == ref_name)
            and d.digest != manifest_digest]
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX,
           "manifests": [d.to_obj() for d in [*kept, entry]]}
    _write(out / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    _write(out / "index.json", json.dumps(doc).encode())


def _existing_index(out: Path) -> list[Descriptor]:
    if not out.exists():
        return []
    if not out.is_dir():
        raise UsageError(f"{out}: exists and is not a directory; an OCI layout is a directory")
    if (out / "index.json").is_file() and (out / "oci-layout").is_file():
        return list(Index.from_json((out / "index.json").read_bytes(), str(out / "index.json")).manifests)
    if any(out.iterdir()):
        raise UsageError(f"{out}: a non-empty directory that is not an OCI layout",
                         "export into a new or empty directory, or an existing OCI layout")
    return []


def _as_oci(store: Store, image: StoredImage) -> tuple[bytes, Manifest]:
    """The stored manifest if it is OCI, else its OCI translation."""
    assert image.manifest is not None
    raw = store.read_blob(image.manifest_digest)
    if image.manifest.media_type == OCI_MANIFEST:
        return raw, image.manifest
    m = image.manifest
    config = Descriptor(OCI_CONFIG, m.config.digest, m.config.size)
    layers = tuple(Descriptor(_TO_OCI_LAYER.get(d.media_type, d.media_type), d.digest, d.size)
                   for d in m.layers)
    converted = Manifest(OCI_MANIFEST, config, layers, m.annotations)
    return json.dumps(converted.to_obj(), separators=(",", ":")).encode(), converted


def _copy_blob(source: Path, out: Path, digest: str) -> None:
    target = out / "blobs" / "sha256" / hex_of(digest)
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return  # content-addressed: same name, same bytes
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.rename(tmp, target)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.rename(tmp, path)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _plain_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Archive members carry no trace of the store: root-owned, 0644, no mtime."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    info.mtime = 0
    return info


class _atomic:
    """``with _atomic(out) as tmp``: write ``tmp``, renamed to ``out`` on success only."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")

    def __enter__(self) -> Path:
        if self.out.is_dir():
            raise UsageError(f"{self.out}: is a directory; an archive is a file")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            os.rename(self.tmp, self.out)
        else:
            remove_tree(self.tmp)


def _tar_tree(layout: Path, out: Path) -> None:
    with _atomic(out) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _tree_members(tar, layout)


def _tree_members(tar: tarfile.TarFile, layout: Path) -> None:
    for path in sorted(layout.rglob("*")):
        tar.add(path, arcname=str(path.relative_to(layout)), recursive=False,
                filter=_plain_member if path.is_file() else None)
