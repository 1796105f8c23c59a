"""``open_image(name, store)``: one way for every stage to get at an image by any name.

A stored reference (``bbtest``, ``name@sha256:…``, an id prefix) yields the stored image.
A transport name (``docker-archive:PATH``, ``oci:DIR[:REF]``, ``oci-archive:PATH``, or a
bare path, detected) is imported into a temporary store inside ``<root>/tmp`` — verified
and unpacked exactly as a real import, so a scan reads the same bytes a run would — and
removed when the block ends (or, if the process dies, at the next store open).
``dir:PATH`` yields a view of an unpacked root filesystem with one pseudo-layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hardbox.errors import InvalidImage
from hardbox.image.config import ImageConfig
from hardbox.image.digest import sha256_bytes
from hardbox.image.images import StoredImage, StoredLayer
from hardbox.image.platform import Platform
from hardbox.image.store import Store
from hardbox.image.transport import parse_transport

# What the architecture calls an ImageView: the same attributes as a stored image.
ImageView = StoredImage


@contextmanager
def open_image(name: str, store: Store, *, platform: Platform | None = None) -> Iterator[ImageView]:
    transport = parse_transport(name)
    if transport is None:
        yield store.get(name)
        return
    if transport.kind == "dir":
        yield dir_view(transport.path)
        return
    with store.staging() as area:
        temporary = Store.open(area / "store")
        images = temporary.import_path(name, platform=platform)
        if len(images) != 1:
            raise InvalidImage(f"{transport.path}: holds {len(images)} images; name one with "
                               f"{name}:REF")
        yield images[0]


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
