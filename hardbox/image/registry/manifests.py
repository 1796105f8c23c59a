"""What a registry's manifest is, and which image manifest a pull takes from it.

A manifest document is read whole (at most 4 MiB, as distribution and containerd bound it),
verified against its digest, then classified: an image manifest (OCI or Docker schema 2),
an index (OCI index or Docker manifest list) from which the platform is chosen as Podman
chooses it, or refused — Docker schema 1 (deprecated since 2017, unsigned content
addressing) and artifacts that are not images (signatures, SBOMs, Helm charts).
"""

from __future__ import annotations

from dataclasses import dataclass

from hardbox import jsondoc
from hardbox.image.formats.manifest import (
    CONFIG_TYPES,
    INDEX_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    Index,
    Manifest,
)
from hardbox.image.formats.platform import Platform
from hardbox.image.registry.errors import RegistryError

MAX_MANIFEST_BYTES = 4 << 20
SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))


@dataclass(frozen=True)
class Document:
    """A verified manifest document: its bytes, digest and media type."""

    data: bytes
    digest: str
    media_type: str
    source: str


def kind(doc: Document) -> str:
    """``manifest`` or ``index``; refuses schema 1, artifacts and anything else."""
    try:
        obj = jsondoc.loads(doc.data)
    except jsondoc.TooDeep as err:
        raise RegistryError(f"{doc.source}: the manifest is {err}") from None
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{doc.source}: the manifest is not JSON") from None
    if not isinstance(obj, dict):
        raise RegistryError(f"{doc.source}: the manifest is not a JSON object")
    media_type = obj.get("mediaType") or doc.media_type
    if media_type in SCHEMA1_TYPES or obj.get("schemaVersion") == 1:
        raise RegistryError(
            f"{doc.source}: Docker schema 1 manifests are not supported",
            "schema 1 is deprecated and insecure; re-push the image with a current tool "
            "(docker, podman, skopeo) to get a schema 2 or OCI manifest")
    if media_type in INDEX_TYPES or "manifests" in obj:
        return "index"
    config = obj.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type is not None and config_type not in CONFIG_TYPES:
        raise RegistryError(
            f"{doc.source}: not a container image but an artifact (config media type "
            f"{str(config_type)[:100]!r})",
            "signatures, SBOMs and other OCI artifacts cannot be pulled as images")
    if media_type in MANIFEST_TYPES or (media_type in ("", None) and "layers" in obj):
        return "manifest"
    raise RegistryError(f"{doc.source}: unsupported manifest media type {str(media_type)[:100]!r}")


def image_manifest(doc: Document) -> Manifest:
    return Manifest.from_json(doc.data, doc.source)


def choose(doc: Document, wanted: Platform) -> Descriptor:
    """The index entry for ``wanted``; exit 2 listing what exists when none matches."""
    return Index.from_json(doc.data, doc.source).for_platform(wanted, doc.source)
