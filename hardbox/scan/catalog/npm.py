"""npm packages installed on disk: ``node_modules/<name>/package.json`` and
``node_modules/@scope/<name>/package.json``, at any depth (nested dependencies).

Only the manifest at a package's root counts; ``package.json`` files deeper inside a
package (test fixtures, sub-builds) are not installed packages. Manifests are hostile JSON:
size-limited, and nesting too deep for the parser is recorded as damage.
"""

from __future__ import annotations

import json
import posixpath

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Manifest, Sighting
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_MAX_MANIFEST = 4 * 1024 * 1024


def _is_package_manifest(path: str) -> bool:
    if not path.endswith("/package.json"):
        return False
    parts = path.split("/")
    # .../node_modules/name/package.json or .../node_modules/@scope/name/package.json
    if len(parts) >= 3 and parts[-3] == "node_modules" and not parts[-2].startswith("@"):
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def _licenses(manifest: dict[str, object]) -> tuple[str, ...]:
    value = manifest.get("license")
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return (value["type"],)
    # The deprecated "licenses": [{"type": "MIT", "url": ...}] form.
    legacy = manifest.get("licenses")
    if isinstance(legacy, list):
        return tuple(
            item["type"]
            for item in legacy
            if isinstance(item, dict) and isinstance(item.get("type"), str)
        )
    return ()


class NpmCataloger(Cataloger[Manifest]):
    name = "language/npm"
    ecosystem = "npm"
    damage = (RecursionError,)  # json nested deeper than the interpreter's recursion limit

    def wants(self, path: str) -> bool:
        return _is_package_manifest(path)

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        manifest = json.loads(file.read_bytes(_MAX_MANIFEST))
        if not isinstance(manifest, dict):
            raise ValueError("package.json is not a JSON object")
        name, version = manifest.get("name"), manifest.get("version")
        if (
            not isinstance(name, str)
            or not isinstance(version, str)
            or not name
            or not version.strip()
        ):
            raise ValueError("package.json has no string name and version")
        version = version.strip()
        self.saw(file, (file.path, name, version), Manifest(name, version, _licenses(manifest)))

    def package(self, sighting: Sighting[Manifest], layer: LayerRef, ctx: CatalogContext) -> Package:
        m = sighting.record
        scope, _, bare = m.name.rpartition("/")
        return self.new_package(
            sighting, layer, m.name, m.version, self.purl(bare, m.version, namespace=scope or None),
            licenses=m.licenses,
            properties=(("hardbox:npm:path", posixpath.dirname(sighting.location)),),
        )
