"""Reading OCI image layouts, as a directory or as a tar (image-spec ``image-layout.md``).

A layout is ``oci-layout`` + ``index.json`` + ``blobs/sha256/<hex>``. ``index.json`` lists
manifests (or nested indexes) and names them with the ``org.opencontainers.image.ref.name``
annotation. Every entry is imported unless ``PATH:REF`` picks one; entries that share a name
(or a nested index) are alternatives per platform, of which the host's (or ``--platform``'s)
is taken. A full reference as ref.name names the image; a bare tag becomes ``DIRNAME:TAG``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from hardbox.errors import InvalidImage
from hardbox.image import _json
from hardbox.image.digest import hex_of
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.manifest import INDEX_TYPES, MANIFEST_TYPES, Descriptor, Index, Manifest
from hardbox.image.formats.platform import Platform
from hardbox.image.formats.reader import (
    Entry,
    LayerSource,
    TarMembers,
    name_for,
    read_exact,
    repository_for,
)

# Nested indexes deeper than this are refused: a cycle of indexes must not loop forever.
_MAX_INDEX_DEPTH = 4


class OciLayout:
    """An opened OCI layout (``ImageReader``), backed by a directory or a tar's members."""

    def __init__(self, path: Path, open_file: Callable[[str], BinaryIO],
                 file_size: Callable[[str], int | None], close: Callable[[], None]) -> None:
        self.path = path
        self._open_file = open_file
        self._file_size = file_size
        self._close = close
        self._check_layout_file()

    @classmethod
    def open_dir(cls, path: Path) -> OciLayout:
        if not (path / "oci-layout").is_file():
            raise InvalidImage(f"{path}: a directory, but not an OCI image layout (no oci-layout file)")

        def open_file(name: str) -> BinaryIO:
            # O_NOFOLLOW on the blob itself; the layout is the user's own directory.
            fd = os.open(path / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            return os.fdopen(fd, "rb")

        def file_size(name: str) -> int | None:
            try:
                st = (path / name).lstat()
            except FileNotFoundError:
                return None
            return st.st_size if not (path / name).is_symlink() else None

        return cls(path, open_file, file_size, lambda: None)

    @classmethod
    def open_tar(cls, path: Path, members: TarMembers) -> OciLayout:
        def file_size(name: str) -> int | None:
            return members.size(name) if members.has(name) else None

        return cls(path, lambda name: members.open(name, str(path)), file_size, members.close)

    def close(self) -> None:
        self._close()

    def _read(self, name: str) -> bytes:
        source = f"{self.path}: {name}"
        if self._file_size(name) is None:
            raise InvalidImage(f"{source}: missing from the OCI layout")
        with self._open_file(name) as fh:
            return read_exact(fh, None, None, source)

    def _check_layout_file(self) -> None:
        obj = _json.load_object(self._read("oci-layout"), f"{self.path}: oci-layout")
        version = obj.get("imageLayoutVersion")
        if not isinstance(version, str) or not version.startswith("1."):
            raise InvalidImage(f"{self.path}: oci-layout: unsupported imageLayoutVersion {version!r}")

    # -- blobs -------------------------------------------------------------------------

    def _blob_name(self, desc: Descriptor) -> str:
        return f"blobs/sha256/{hex_of(desc.digest)}"

    def _blob_size(self, desc: Descriptor, source: str) -> int:
        size = self._file_size(self._blob_name(desc))
        if size is None:
            raise InvalidImage(f"{source}: names blob {desc.digest}, which is missing from the layout")
        if size != desc.size:
            raise InvalidImage(
                f"{source}: blob {desc.digest} has {size} bytes, the descriptor says {desc.size}"
            )
        return size

    def _read_blob(self, desc: Descriptor, source: str) -> bytes:
        self._blob_size(desc, source)
        with self._open_file(self._blob_name(desc)) as fh:
            return read_exact(fh, desc.digest, desc.size, f"{source} ({desc.digest})")

    def _open_blob(self, desc: Descriptor, source: str) -> BinaryIO:
        try:
            return self._open_file(self._blob_name(desc))
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise InvalidImage(f"{source}: blob {desc.digest} is a symlink") from None
            raise

    # -- entries -----------------------------------------------------------------------

    def entries(self, ref: str | None, platform: Platform) -> list[Entry]:
        source = f"{self.path}: index.json"
        index = Index.from_json(self._read("index.json"), source)
        groups: dict[str | None, list[tuple[int, Descriptor]]] = {}
        for i, desc in enumerate(index.manifests):
            if desc.media_type in MANIFEST_TYPES or desc.media_type in INDEX_TYPES:
                groups.setdefault(desc.ref_name, []).append((i, desc))
        if ref is not None:
            if ref not in groups:
                named = ", ".join(sorted(n for n in groups if n)) or "none"
                raise InvalidImage(f"{source}: no image named {ref!r} (ref.names: {named})")
            groups = {ref: groups[ref]}
        if not groups:
            raise InvalidImage(f"{source}: lists no image manifests")
        repository = repository_for(self.path)
        entries = []
        for ref_name, group in groups.items():
            desc, where = self._pick(group, platform, source)
            names = (name_for(ref_name, repository, source),) if ref_name else ()
            entries.append(self._entry(desc, names, where))
        return entries

    def _pick(self, group: list[tuple[int, Descriptor]], platform: Platform,
              source: str) -> tuple[Descriptor, str]:
        """Resolve one name's descriptors to the manifest for ``platform``."""
        if len(group) == 1:
            i, desc = group[0]
        else:
            inline = Index(INDEX_TYPES[0], tuple(d for _, d in group))
            desc = inline.for_platform(platform, source)
            i = next(n for n, d in group if d is desc)
        where = f"{source} manifests[{i}]"
        depth = 0
        while desc.media_type in INDEX_TYPES:
            depth += 1
            if depth > _MAX_INDEX_DEPTH:
                raise InvalidImage(f"{where}: image indexes nested more than {_MAX_INDEX_DEPTH} deep")
            nested_source = f"{self.path}: {self._blob_name(desc)}"
            nested = Index.from_json(self._read_blob(desc, where), nested_source)
            desc = nested.for_platform(platform, nested_source)
            where = nested_source
        return desc, where

    def _entry(self, desc: Descriptor, names: tuple[str, ...], where: str) -> Entry:
        manifest_source = f"{self.path}: {self._blob_name(desc)}"
        manifest_bytes = self._read_blob(desc, where)
        manifest = Manifest.from_json(manifest_bytes, manifest_source)
        config_bytes = self._read_blob(manifest.config, f"{manifest_source} config")
        config = ImageConfig.from_json(config_bytes, f"{self.path}: {self._blob_name(manifest.config)}")
        layers = []
        for n, layer in enumerate(manifest.layers):
            layer_source = f"{manifest_source} layers[{n}]"
            self._blob_size(layer, layer_source)
            layers.append(LayerSource(
                source=f"{self.path}: {self._blob_name(layer)}",
                digest=layer.digest,
                media_type=layer.media_type,
                size=layer.size,
                open=lambda d=layer, s=layer_source: self._open_blob(d, s),  # type: ignore[misc]
            ))
        return Entry(
            names=names,
            source=manifest_source,
            manifest=manifest,
            manifest_bytes=manifest_bytes,
            config=config,
            config_bytes=config_bytes,
            layers=tuple(layers),
        )
