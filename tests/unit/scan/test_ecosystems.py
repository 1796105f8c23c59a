"""The ecosystem table is the one registry every consumer reads: each cataloger's ecosystem
is a row, each row has a registered version ordering and a cataloger, and what the
consumers derive from a row (OSV lookup, SBOM group and OS dependency) follows it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from helpers.layerdirs import image_of, write

from hardbox.findings import LayerRef
from hardbox.scan.catalog import CATALOGERS
from hardbox.scan.catalog.interface import Cataloger
from hardbox.scan.catalog_result import catalog_image
from hardbox.scan.ecosystems import BY_NAME, TABLE, Ecosystem, ecosystem, is_os
from hardbox.scan.package import Package, make_purl
from hardbox.scan.sbom.build import write_sbom
from hardbox.scan.versions import SCHEMES, scheme_for
from hardbox.scan.vulndb.ecosystems import NoEcosystem, query_for

DOC = Path(__file__).resolve().parents[3] / "docs/adding-a-cataloger.md"


def test_every_cataloger_declares_an_ecosystem_of_the_table() -> None:
    for cls in CATALOGERS:
        assert cls.ecosystem in BY_NAME, f"{cls.name}: ecosystem {cls.ecosystem!r} is no row"


def test_every_row_has_a_registered_version_ordering_and_a_cataloger() -> None:
    declared = {cls.ecosystem for cls in CATALOGERS}
    for row in TABLE:
        assert row.version_scheme in SCHEMES, f"{row.name}: no scheme {row.version_scheme!r}"
        assert scheme_for(row.name) is SCHEMES[row.version_scheme]
        assert row.name in declared, f"{row.name}: no cataloger finds its packages"
    assert len(BY_NAME) == len(TABLE)


def test_every_row_is_documented() -> None:
    text = DOC.read_text()
    for row in TABLE:
        assert f"`{row.name}`" in text, f"{row.name} missing from {DOC.name}"


def test_a_package_of_an_ecosystem_the_table_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ecosystem 'gem'"):
        Package("rails", "7.1.0", "gem", make_purl("gem", "rails", "7.1.0"), "language/ruby")
    with pytest.raises(KeyError, match="gem"):
        ecosystem("gem")
    with pytest.raises(KeyError, match="gem"):
        scheme_for("gem")


def test_a_row_is_either_an_os_or_a_language_ecosystem() -> None:
    with pytest.raises(ValueError, match="OS ecosystem"):
        Ecosystem("pkg", purl_type="pkg", version_scheme="semver", os=True, osv="FreeBSD")
    with pytest.raises(ValueError, match="language ecosystem"):
        Ecosystem("gem", purl_type="gem", version_scheme="semver")


def test_packages_carry_their_catalogers_ecosystem_and_purl_type(tmp_path: Path) -> None:
    """What the catalogers emit, from real package records of three ecosystems: each
    package's ecosystem is its cataloger's, and its purl has that row's type."""
    layer = tmp_path / "l0"
    write(layer, "lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\n")
    write(layer, "usr/lib/python3/site-packages/six-1.16.0.dist-info/METADATA",
          "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n")
    write(layer, "app/node_modules/@types/node/package.json",
          json.dumps({"name": "@types/node", "version": "20.1.0"}))
    result = catalog_image(image_of(layer))
    by_cataloger = {cls.name: cls.ecosystem for cls in CATALOGERS}
    assert {p.ecosystem for p in result.packages} == {"apk", "pypi", "npm"}
    for pkg in result.packages:
        assert pkg.ecosystem == by_cataloger[pkg.cataloger]
        assert pkg.purl.startswith(f"pkg:{ecosystem(pkg.ecosystem).purl_type}/")


def _pkg(eco: str, name: str, **fields: str) -> Package:
    return Package(name, "1.0.0", eco, make_purl(BY_NAME[eco].purl_type, name, "1.0.0"),
                   "test", **fields)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class _OS:
    id: str
    version_id: str
    osv_ecosystem: str | None


def test_vulnerability_lookup_follows_the_row() -> None:
    debian = _OS("debian", "12", "Debian:12")
    # A language row: its own OSV ecosystem and the package's own name, whatever the OS.
    query = query_for(_pkg("maven", "org.example:lib"), debian)
    assert (query.ecosystems, query.names) == (("Maven",), ("org.example:lib",))
    # OS rows: the release's ecosystem, when its family is one of the row's.
    query = query_for(_pkg("deb", "libc6", source_name="glibc", source_version="2.36-9"), debian)
    assert (query.ecosystems, query.names, query.version) == (("Debian:12",), ("glibc",), "2.36-9")
    rocky = _OS("rocky", "9.3", "Rocky Linux:9")
    query = query_for(_pkg("rpm", "bash", source_name="bash-src"), rocky)
    assert query.names == ("bash-src", "bash")
    with pytest.raises(NoEcosystem):
        query_for(_pkg("apk", "musl"), debian)


def test_sbom_group_and_os_dependency_follow_the_row(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    write(layer, "etc/os-release", 'ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine"\n')
    write(layer, "lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n")
    write(layer, "app/node_modules/@types/node/package.json",
          json.dumps({"name": "@types/node", "version": "20.1.0"}))
    image = image_of(layer)
    result = catalog_image(image)
    bom = json.loads(write_sbom(image, result, "cyclonedx-json"))  # type: ignore[arg-type]
    components = {c["name"]: c for c in bom["components"]}
    assert components["node"]["group"] == "@types"
    assert "group" not in components["musl"]
    os_ref = next(c["bom-ref"] for c in bom["components"] if c["type"] == "operating-system")
    depends = next(d["dependsOn"] for d in bom["dependencies"] if d["ref"] == os_ref)
    assert depends == [components["musl"]["bom-ref"]]
    assert is_os("apk") and not is_os("npm") and not is_os("gem")


def test_the_earliest_layer_rule_is_the_bases() -> None:
    """``Cataloger.introduced``: visible sightings only, each dated by the earliest layer
    whose copy held its key, hidden copies included."""

    @dataclasses.dataclass(frozen=True)
    class Seen:
        key: str
        layer: LayerRef
        visible: bool

    layers = [LayerRef(f"sha256:{i}", i) for i in range(3)]
    seen = [
        Seen("a", layers[2], True),
        Seen("a", layers[0], False),
        Seen("b", layers[1], False),  # hidden, never re-listed: gone
        Seen("c", layers[2], True),
        Seen("a", layers[1], False),
    ]
    got = [(s.key, layer.index) for s, layer in Cataloger.introduced(seen, lambda s: s.key)]
    assert got == [("a", 0), ("c", 2)]
