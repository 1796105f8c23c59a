"""One preparation step for every reader of an image (``hardbox scan``, ``hardbox sbom``):
what they all need of an opened image, decided once, when it is opened.

``prepare_image(image)`` takes what ``hardbox.image.source.open_image`` yields and returns a
``PreparedImage``:

* each layer's ``created_by`` scrubbed of credentials (``checks.config.scrub``): every
  package, finding and report row that points at a layer carries that text, and a build
  argument such as ``ARG TOKEN`` must travel with none of them;
* the history aligned to the layers once (image-spec config.md, "history": the n-th entry
  that is not ``empty_layer`` made the n-th layer; when the counts disagree no entry is
  paired), giving each layer its creation time and each history step its layer;
* every history step's ``created_by`` both as the config holds it (the config checks look
  for secrets in it) and scrubbed (what reports print);
* the device nodes each layer ships, from the record the store keeps beside the layer
  (they are never created on disk, so the walk cannot see them).

What a layer hides of the layers below it (shadowed bytes) is counted by the one walk
(``MergedView.shadowed``), the only pass that reads the files. ``image`` knows nothing of
secrets, so this step lives here, above it, rather than in ``open_image``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hardbox.errors import InvalidImage
from hardbox.findings import LayerRef
from hardbox.image.formats.config import ImageConfig, aligned_layers
from hardbox.image.layers.unpack import DeviceNode
from hardbox.scan.walk import ImageSource, LayerSource


class OpenedLayer(LayerSource, Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def size(self) -> int: ...


class ImageIdentity(ImageSource, Protocol):
    """An image as every reader names it (its SBOM, its reports): the id (config digest),
    the manifest digest, the tags, and the layers the walk reads. ``StoredImage``,
    ``ImageView`` and ``PreparedImage`` fit."""

    @property
    def id(self) -> str: ...
    @property
    def manifest_digest(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...


class OpenedImage(ImageIdentity, Protocol):
    """What ``open_image`` yields (``StoredImage``), as far as preparation reads it."""

    @property
    def config(self) -> ImageConfig: ...
    @property
    def layers(self) -> Sequence[OpenedLayer]: ...


@dataclass(frozen=True)
class PreparedLayer:
    """One layer: ``created_by`` scrubbed; ``created`` from the history entry that made it."""

    path: Path
    diff_id: str
    index: int
    created_by: str
    digest: str
    size: int
    created: str | None = None
    devices: tuple[DeviceNode, ...] = ()  # the device nodes the layer ships (never on disk)

    @property
    def ref(self) -> LayerRef:
        return LayerRef(self.diff_id, self.index, self.created_by)


@dataclass(frozen=True)
class PreparedStep:
    """One history entry: ``created_by`` as the config holds it, ``shown`` scrubbed, and the
    layer it made (None for an empty step, or for every step when history and layers do not
    align)."""

    index: int
    created_by: str
    shown: str
    created: str | None
    layer: LayerRef | None


@dataclass(frozen=True)
class PreparedImage:
    id: str
    manifest_digest: str
    tags: tuple[str, ...]
    config: ImageConfig
    layers: tuple[PreparedLayer, ...]
    history: tuple[PreparedStep, ...]

    @property
    def refs(self) -> tuple[LayerRef, ...]:
        return tuple(layer.ref for layer in self.layers)


def prepare_image(image: OpenedImage) -> PreparedImage:
    """Scrub and align once; see the module docstring."""
    history = image.config.history
    scrub = _scrubber() if history else _unchanged
    shown: dict[str, str] = {}

    def scrubbed(text: str) -> str:
        # One image repeats the same command text in its layers and its history.
        if text not in shown:
            shown[text] = scrub(text)
        return shown[text]

    positions = aligned_layers(history, len(image.layers))
    created: dict[int, str | None] = {
        layer: entry.created for entry, layer in zip(history, positions, strict=True)
        if layer is not None
    }
    layers = tuple(
        PreparedLayer(Path(layer.path), layer.diff_id, layer.index, scrubbed(layer.created_by),
                      layer.digest, layer.size, created.get(layer.index), recorded_devices(Path(layer.path)))
        for layer in image.layers
    )
    steps = tuple(
        PreparedStep(i, entry.created_by, scrubbed(entry.created_by), entry.created,
                    layers[layer].ref if layer is not None else None)
        for i, (entry, layer) in enumerate(zip(history, positions, strict=True))
    )
    return PreparedImage(image.id, image.manifest_digest, tuple(image.tags), image.config,
                         layers, steps)


def recorded_devices(layer_dir: Path) -> tuple[DeviceNode, ...]:
    """The device nodes the store recorded beside a layer directory (``<dir>.json``,
    docs/architecture.md "Unpacked layer format"); none for a ``dir:`` root or a record
    from before they were recorded. The record is the store's own file, written by the
    import: one that does not parse is the store's damage, which fsck is for, not a scan's."""
    try:
        record = json.loads(Path(f"{layer_dir}.json").read_bytes())
        return tuple(DeviceNode(**node) for node in record.get("devices", ()))
    except FileNotFoundError:
        return ()
    except (ValueError, TypeError, AttributeError) as err:
        raise InvalidImage(f"layer record {layer_dir}.json: {err}",
                           hint="the store is damaged; remove the image and import it again") from err


def _unchanged(text: str) -> str:
    return text


def _scrubber() -> Callable[[str], str]:
    # Imported here, for start-up speed: an image without history (dir:, a bare rootfs
    # archive) has only hardbox's own created_by text, and loading and compiling the secret
    # rules costs a third of a second that `hardbox sbom` of one never needs.
    from hardbox.scan.checks.config import scrub
    from hardbox.scan.checks.secrets import load_policy

    policy = load_policy()
    return lambda text: scrub(text, policy)
