"""Where an image comes from: the IMAGE a user names, parsed once into an ``ImageSource``.

``parse_source(name)`` asks each source in ``SOURCES``, in order, whether ``name`` is spelled
for it; the first that says yes holds the parsed name (a path and ``REF``, a reference), and
everything downstream — opening the image, the report's file name, whether the image can be
run — asks that value instead of reading the string again.

- ``dir:PATH`` (``DirSource``): a view of an unpacked root filesystem with one pseudo-layer.
- ``docker-archive:PATH``, ``oci:DIR[:REF]``, ``oci-archive:PATH``, or a bare path whose
  format is detected (``ArchiveSource``, spelled as in ``transport.py``): imported into a
  temporary store inside ``<root>/tmp`` — verified and unpacked exactly as a real import, so
  a scan reads the same bytes a run would — and removed when the block ends (or, if the
  process dies, at the next store open).
- anything else (``StoredSource``): a stored reference (``bbtest``, ``name@sha256:…``, an id
  prefix), looked up in the store.

Adding a transport (a registry, say) is one ``ImageSource`` subclass — how its names are
spelled (``parse``), how it opens (``open``), what its reports are called (``stem``) — put in
``SOURCES`` ahead of ``StoredSource``, which takes every name the others leave.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hardbox.errors import InvalidImage, InvalidReference
from hardbox.image.digest import sha256_bytes
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.platform import Platform
from hardbox.image.reference import DEFAULT_TAG, Reference
from hardbox.image.reference import parse as parse_reference
from hardbox.image.store.images import StoredImage, StoredLayer
from hardbox.image.store.importer import import_path
from hardbox.image.store.store import Store
from hardbox.image.transport import DIR_PREFIX, Transport, parse_transport

# What the architecture calls an ImageView: the same attributes as a stored image.
ImageView = StoredImage


class ImageSource(ABC):
    """An image name as the user gave it (``name``), parsed."""

    name: str
    # The image is in the store already, so it can be run (``gate --probe``).
    stored: ClassVar[bool] = False
    # The image has a config (user, env, history) for the config checks to read.
    has_config: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def parse(cls, name: str) -> ImageSource | None:
        """This source for ``name``, or None when ``name`` is not spelled for it. Raises
        ``InvalidImage`` when ``name`` is clearly meant for it but unusable."""

    @abstractmethod
    def open(self, store: Store, platform: Platform | None = None,
             ) -> AbstractContextManager[ImageView]:
        """The image, for the length of the block."""

    @property
    @abstractmethod
    def stem(self) -> str:
        """A short name for files written about the image (not yet made file-name-safe)."""


@dataclass(frozen=True)
class DirSource(ImageSource):
    """``dir:PATH``: an unpacked root filesystem (scan and sbom only)."""

    name: str
    path: Path
    has_config: ClassVar[bool] = False

    @classmethod
    def parse(cls, name: str) -> DirSource | None:
        prefix, sep, rest = name.partition(":")
        return cls(name, Path(rest)) if sep and prefix == DIR_PREFIX else None

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None) -> Iterator[ImageView]:
        yield dir_view(self.path)

    @property
    def stem(self) -> str:
        return _file_stem(self.path)


@dataclass(frozen=True)
class ArchiveSource(ImageSource):
    """An archive or layout on disk, imported into a temporary store while it is open."""

    name: str
    transport: Transport

    @classmethod
    def parse(cls, name: str) -> ArchiveSource | None:
        transport = parse_transport(name)
        if transport is None or transport.kind == DIR_PREFIX:
            return None
        return cls(name, transport)

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None) -> Iterator[ImageView]:
        with store.staging() as area:
            images = import_path(Store.open(area / "store"), self.transport, platform=platform)
            if len(images) != 1:
                raise InvalidImage(f"{self.transport.path}: holds {len(images)} images; name "
                                   f"one with {self.name}:REF")
            yield images[0]

    @property
    def stem(self) -> str:
        return _file_stem(self.transport.path)


@dataclass(frozen=True)
class StoredSource(ImageSource):
    """A stored image: a reference, ``name@sha256:…``, a digest or an id prefix."""

    name: str
    # None when the name is no reference (an id prefix can be one, or not); the store's
    # resolution (resolve.py) decides what the name means.
    reference: Reference | None
    stored: ClassVar[bool] = True

    @classmethod
    def parse(cls, name: str) -> StoredSource:
        try:
            return cls(name, parse_reference(name))
        except InvalidReference:
            return cls(name, None)

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None) -> Iterator[ImageView]:
        yield store.get(self.name)

    @property
    def stem(self) -> str:
        if self.reference is None:
            return self.name
        repository = self.reference.path.rsplit("/", 1)[-1]
        return f"{repository}-{self.reference.tag or DEFAULT_TAG}"


# Asked in this order; StoredSource takes every name, so it is last.
SOURCES: tuple[type[ImageSource], ...] = (DirSource, ArchiveSource, StoredSource)


def parse_source(name: str) -> ImageSource:
    """The source ``name`` spells (see the module docstring)."""
    for kind in SOURCES:
        source = kind.parse(name)
        if source is not None:
            return source
    raise AssertionError(f"no image source takes {name!r}")  # StoredSource takes all


def open_image(name: str | ImageSource, store: Store, *, platform: Platform | None = None,
               ) -> AbstractContextManager[ImageView]:
    """The image ``name`` names, for the length of the block; a string is parsed here."""
    source = name if isinstance(name, ImageSource) else parse_source(name)
    return source.open(store, platform)


def dir_view(path: Path) -> ImageView:
    """An unpacked root filesystem as an image: one layer whose path is PATH, empty config."""
    if not path.is_dir():
        raise InvalidImage(f"{path}: dir: needs a directory (an unpacked root filesystem)")
    host = Platform.host()
    raw = {"os": host.os, "architecture": host.architecture,
           "rootfs": {"type": "layers", "diff_ids": []}}
    config = ImageConfig.from_obj(raw, f"dir:{path}")
    pseudo = sha256_bytes(str(path.resolve()).encode())
    layer = StoredLayer(index=0, diff_id=pseudo, digest=pseudo, media_type="dir", size=0,
                        created_by=f"dir:{path}", path=path)
    return StoredImage(id=sha256_bytes(b"{}"), manifest_digest="", tags=(), config=config,
                       layers=(layer,))


def _file_stem(path: Path) -> str:
    """``/tmp/app.tar`` -> ``app``; ``.`` -> the directory's own name."""
    base = path.name or path.resolve().name
    return re.sub(r"\.(tar|tar\.gz|tgz)$", "", base)
