"""OCI and Docker image models, validated on load: descriptors, manifests, indexes.

The shapes are those of the OCI image spec (descriptor.md, manifest.md, image-index.md) and
Docker's image manifest v2 schema 2, which differ only in media type strings. A model that
exists is well formed: ``from_json`` checks every field it reads and raises ``InvalidImage``
naming the file and the field. The image config lives in ``config.py`` and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hardbox.errors import InvalidImage
from hardbox.image import _json
from hardbox.image.digest import check_digest
from hardbox.image.formats.config import HealthCheck, HistoryEntry, ImageConfig
from hardbox.image.formats.platform import Platform

__all__ = [
    "Descriptor", "HealthCheck", "HistoryEntry", "ImageConfig", "Index", "Manifest", "Platform",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)

# Layer media type -> compression. The "nondistributable" variants (OCI) and "foreign"
# (Docker) differ only in whether a registry may serve them; their content is the same.
LAYER_TYPES: dict[str, str | None] = {
    OCI_LAYER: None,
    OCI_LAYER + "+gzip": "gzip",
    OCI_LAYER + "+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": None,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    DOCKER_LAYER_TAR: None,
    DOCKER_LAYER_GZIP: "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob: media type, sha256 digest, size in (stored) bytes."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False)
    platform: Platform | None = None

    @classmethod
    def from_obj(cls, obj: object, source: str, field_name: str) -> Descriptor:
        if not isinstance(obj, dict):
            raise _json.bad(source, field_name, "must be an object")
        media_type = _json.get(obj, "mediaType", str, source, f"{field_name}.mediaType",
                               required=True)
        digest = check_digest(obj.get("digest"), source, f"{field_name}.digest")
        size = _json.get(obj, "size", int, source, f"{field_name}.size", required=True)
        if size < 0:
            raise _json.bad(source, f"{field_name}.size", "must not be negative")
        annotations = _json.str_map(obj, "annotations", source, f"{field_name}.annotations")
        platform_obj = _json.get(obj, "platform", dict, source, f"{field_name}.platform")
        platform = (
            Platform.from_obj(platform_obj, source, f"{field_name}.platform")
            if platform_obj is not None else None
        )
        return cls(media_type, digest, size, annotations, platform)

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                               "size": self.size}
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        if self.platform is not None:
            obj["platform"] = self.platform.to_obj()
        return obj

    @property
    def ref_name(self) -> str | None:
        return self.annotations.get(REF_NAME)


def _document(data: bytes, source: str, default_type: str) -> tuple[dict[str, Any], str]:
    """The JSON object of a manifest or an index, its ``schemaVersion`` checked (2 for both),
    and its ``mediaType`` (``default_type`` where OCI 1.0 let it be left out)."""
    obj = _json.load_object(data, source)
    if obj.get("schemaVersion") != 2:
        raise _json.bad(source, "schemaVersion", f"must be 2, found {obj.get('schemaVersion')!r}")
    return obj, _json.get(obj, "mediaType", str, source, "mediaType", default_type)


@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker schema 2): one config and its layers, oldest first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: bytes, source: str) -> Manifest:
        # OCI 1.0 manifests may leave mediaType out; a Docker one always has it.
        obj, media_type = _document(data, source, OCI_MANIFEST)
        if media_type in INDEX_TYPES or "manifests" in obj:
            raise InvalidImage(f"{source}: is an image index, not an image manifest")
        if media_type not in MANIFEST_TYPES:
            raise _json.bad(source, "mediaType", f"is not an image manifest type: {media_type!r}")
        config = Descriptor.from_obj(obj.get("config"), source, "config")
        if config.media_type not in CONFIG_TYPES:
            raise _json.bad(source, "config.mediaType",
                            f"is not an image config type: {config.media_type!r}")
        layer_list = _json.get(obj, "layers", list, source, "layers", required=True)
        layers = []
        for i, item in enumerate(layer_list):
            layer = Descriptor.from_obj(item, source, f"layers[{i}]")
            if layer.media_type not in LAYER_TYPES:
                raise _json.bad(source, f"layers[{i}].mediaType",
                                f"is not a supported layer type: {layer.media_type!r}")
            layers.append(layer)
        annotations = _json.str_map(obj, "annotations", source, "annotations")
        return cls(media_type, config, tuple(layers), annotations)

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_obj(),
            "layers": [layer.to_obj() for layer in self.layers],
        }
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        return obj


@dataclass(frozen=True)
class Index:
    """An image index (OCI) or manifest list (Docker): manifests, per platform or per name."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: bytes, source: str) -> Index:
        obj, media_type = _document(data, source, OCI_INDEX)
        if media_type not in INDEX_TYPES:
            raise _json.bad(source, "mediaType", f"is not an image index type: {media_type!r}")
        items = _json.get(obj, "manifests", list, source, "manifests", required=True)
        manifests = tuple(
            Descriptor.from_obj(item, source, f"manifests[{i}]") for i, item in enumerate(items)
        )
        annotations = _json.str_map(obj, "annotations", source, "annotations")
        return cls(media_type, manifests, annotations)

    def for_platform(self, wanted: Platform, source: str) -> Descriptor:
        """The manifest for ``wanted`` (the host, unless ``--platform`` says otherwise)."""
        candidates = [d for d in self.manifests if d.media_type in MANIFEST_TYPES]
        matches = [d for d in candidates if d.platform is not None and wanted.matches(d.platform)]
        if matches:
            return matches[0]
        if len(candidates) == 1 and candidates[0].platform is None:
            return candidates[0]
        offered = ", ".join(str(d.platform) for d in candidates if d.platform) or "none"
        raise InvalidImage(
            f"{source}: no manifest for platform {wanted} (offered: {offered})",
            "choose one of the offered platforms with --platform OS/ARCH[/VARIANT]",
        )
