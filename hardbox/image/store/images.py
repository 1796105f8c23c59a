"""What the store hands out: ``StoredImage`` and ``StoredLayer`` (docs/architecture.md).

An image is a manifest in the store; its record (``images/<manifest hex>.json``) keeps what
the manifest does not say — each layer's diff_id and unpacked size — so that listing images
reads one small file per image. ``StoredImage`` doubles as the ``ImageView`` that
``source.open_image`` yields for images that are not (yet) stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.image.formats.config import HistoryEntry, ImageConfig, aligned_layers
from hardbox.image.formats.manifest import Manifest


@dataclass(frozen=True)
class StoredLayer:
    """One layer, oldest first by ``index``; ``path`` is its read-only unpacked directory
    (an overlayfs lower dir), ``size`` its unpacked bytes, ``digest`` its stored blob."""

    index: int
    diff_id: str
    digest: str
    media_type: str
    size: int
    created_by: str
    path: Path


@dataclass(frozen=True)
class StoredImage:
    """An image: ``id`` is the config digest (as Docker's image id), ``tags`` are full names."""

    id: str
    manifest_digest: str
    tags: tuple[str, ...]
    config: ImageConfig
    layers: tuple[StoredLayer, ...]
    manifest: Manifest | None = None
    imported: str | None = None

    @property
    def history(self) -> tuple[HistoryEntry, ...]:
        """Every history entry, empty ones too, oldest first."""
        return self.config.history

    @property
    def created(self) -> str | None:
        return self.config.created

    @property
    def size(self) -> int:
        """Uncompressed bytes of all layers."""
        return sum(layer.size for layer in self.layers)

    def layer_for_history(self) -> list[StoredLayer | None]:
        """For each history entry (oldest first) the layer it made, None for empty ones.
        When history and layers disagree in count, no entry is matched to a layer."""
        return [None if i is None else self.layers[i] for i in aligned_layers(self.history, len(self.layers))]


@dataclass(frozen=True)
class LayerRecord:
    """One layer as an image record keeps it."""

    digest: str
    diff_id: str
    media_type: str
    size: int  # unpacked (uncompressed tar) bytes
    blob_size: int  # stored blob bytes

    def to_obj(self) -> dict[str, Any]:
        return {"digest": self.digest, "diff_id": self.diff_id, "media_type": self.media_type,
                "size": self.size, "blob_size": self.blob_size}


@dataclass(frozen=True)
class ImageRecord:
    """``images/<manifest hex>.json``: written by the store, read back trusting its shape."""

    manifest: str
    config: str
    layers: tuple[LayerRecord, ...]
    imported: str

    def to_obj(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "config": self.config, "imported": self.imported,
                "layers": [layer.to_obj() for layer in self.layers]}

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> ImageRecord:
        return cls(
            manifest=obj["manifest"],
            config=obj["config"],
            imported=obj["imported"],
            layers=tuple(LayerRecord(**layer) for layer in obj["layers"]),
        )
