"""Reading docker archives: what ``docker save`` and ``skopeo copy … docker-archive:`` write.

The archive's ``manifest.json`` is a list of images, each ``{"Config": FILE, "RepoTags":
[...], "Layers": [FILE, ...]}`` with paths inside the tar (moby image/tarexport). There is no
registry manifest: layer digests are those of the files, which may be plain tar, gzip or
zstd; the importer computes them and writes an OCI manifest. Legacy per-layer ``json``/
``VERSION`` files and the ``repositories`` file are ignored: ``manifest.json`` says it all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hardbox.errors import InvalidImage, InvalidReference
from hardbox.image import _json, reference
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.platform import Platform
from hardbox.image.formats.reader import Entry, LayerSource, TarMembers, read_exact


class DockerArchive:
    """An opened docker archive (``ImageReader``)."""

    def __init__(self, path: Path, members: TarMembers) -> None:
        self.path = path
        self.members = members

    def close(self) -> None:
        self.members.close()

    def _manifest(self) -> list[dict[str, Any]]:
        source = f"{self.path}: manifest.json"
        data = self.members.open("manifest.json", source).read(8 << 20)
        items = _json.load_any(data, source)
        if not isinstance(items, list) or not items:
            raise InvalidImage(f"{source}: expected a non-empty list of images")
        for i, item in enumerate(items):
            ok = (
                isinstance(item, dict)
                and isinstance(item.get("Config"), str)
                and isinstance(item.get("Layers"), list)
                and all(isinstance(x, str) for x in item["Layers"])
                and isinstance(item.get("RepoTags") or [], list)
                and all(isinstance(x, str) for x in item.get("RepoTags") or [])
            )
            if not ok:
                raise InvalidImage(
                    f"{source}: [{i}] must have Config (string), Layers (list of strings) "
                    "and RepoTags (list of strings or null)"
                )
        return items

    def entries(self, ref: str | None, platform: Platform) -> list[Entry]:
        """Every image in the archive, or those tagged ``ref`` (``PATH:REF``, or ``@N`` for
        the N-th as skopeo spells it). The platform is whatever the archive holds."""
        items = [(i, item, self._names(i, item)) for i, item in enumerate(self._manifest())]
        if ref is None:
            chosen = items
        elif ref.startswith("@") and ref[1:].isdigit():
            chosen = [it for it in items if it[0] == int(ref[1:])]
        else:
            wanted = str(reference.parse(ref))
            chosen = [(i, item, (wanted,)) for i, item, names in items if wanted in names]
        if not chosen:
            raise InvalidImage(f"{self.path}: no image {ref!r} in manifest.json")
        return [self._entry(i, item, names) for i, item, names in chosen]

    def _names(self, index: int, item: dict[str, Any]) -> tuple[str, ...]:
        names = []
        for tag in item.get("RepoTags") or []:
            try:
                names.append(str(reference.parse(tag)))
            except InvalidReference as err:
                raise InvalidImage(
                    f"{self.path}: manifest.json [{index}].RepoTags: {err}"
                ) from None
        return tuple(names)

    def _entry(self, index: int, item: dict[str, Any], names: tuple[str, ...]) -> Entry:
        config_name = item["Config"]
        source = f"{self.path}: {config_name}"
        stream = self.members.open(config_name, f"{self.path}: manifest.json")
        # Nothing names the config's digest here: its digest *is* the image id.
        config_bytes = read_exact(stream, None, None, source)
        config = ImageConfig.from_json(config_bytes, source)
        layers = tuple(self._layer(name) for name in item["Layers"])
        return Entry(
            names=names,
            source=f"{self.path}: manifest.json [{index}]",
            manifest=None,
            manifest_bytes=None,
            config=config,
            config_bytes=config_bytes,
            layers=layers,
        )

    def _layer(self, name: str) -> LayerSource:
        if not self.members.has(name):
            raise InvalidImage(
                f"{self.path}: manifest.json names layer {name!r}, which is not in the archive"
            )
        return LayerSource(
            source=f"{self.path}: {name}",
            digest=None,
            media_type=None,
            size=self.members.size(name),
            open=lambda: self.members.open(name, f"{self.path}: manifest.json"),
        )
