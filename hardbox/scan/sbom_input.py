"""An SBOM as the scan's input (``hardbox scan sbom:FILE``, as ``grype sbom:FILE`` and
``trivy sbom FILE`` take one): the packages a CycloneDX JSON or SPDX 2.3 JSON document lists,
read back into ``Package``s so that the vulnerability matcher, the coverage block and every
reporter treat them as a scanned image's.

What a package is comes from its purl (github.com/package-url/purl-spec): the purl type
names the ecosystem (``hardbox.scan.ecosystems.TABLE``), the namespace and name its name as
hardbox's catalogers spell it (``@scope/name``, ``group:artifact``, a Go module path), the
version plus an ``epoch`` qualifier its version. OS packages (deb, apk, rpm) need their
distribution: it is the SBOM's ``operating-system`` component (CycloneDX) or
``OPERATING-SYSTEM`` package (SPDX), else the purls' ``distro`` qualifier (``debian-12``),
else their namespace. Advisories of Debian and Alpine name source packages: the source is
read from hardbox's ``hardbox:source:name``/``version`` properties, SPDX's ``sourceInfo``
as hardbox writes it, Syft's ``upstream`` qualifier or Trivy's ``SrcName``/``SrcVersion``.

The document is hostile input: its size and nesting are bounded (``hardbox.jsondoc``), so is
the number of components; a component without a usable purl is counted and skipped with its
reason (the result's ``problems``); a file that is no CycloneDX or SPDX JSON at all is an
``InputError`` naming it (exit 2).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hardbox import jsondoc
from hardbox.errors import InputError
from hardbox.named_input import require_file_or_dir
from hardbox.scan.catalog.os_release import OSRelease
from hardbox.scan.ecosystems import TABLE, is_os
from hardbox.scan.package import Package

MAX_SBOM = 256 * 1024 * 1024  # a 50,000-package SBOM with file lists is ~100 MB
MAX_COMPONENTS = 500_000
_MAX_PROBLEMS = 50
_BY_PURL_TYPE = {row.purl_type: row.name for row in TABLE}
_HINT = "name a CycloneDX JSON or SPDX 2.3 JSON SBOM (`hardbox sbom IMAGE -o FILE` writes one)"
_SPDX_SOURCE = re.compile(r"built from source package (\S+)(?: (\S+))?")
# "debian-12", "alpine-3.19.1", "opensuse-leap-15.5", "rhel-8.9": the id, then the version.
_DISTRO = re.compile(r"(?P<id>[a-z][a-z0-9._-]*?)-(?P<version>[0-9][^-]*)")


@dataclass(frozen=True)
class SbomInput:
    """What an SBOM file lists. ``format`` is ``cyclonedx`` or ``spdx``; ``digest`` the
    file's sha256 (its id in reports); ``problems`` the components skipped, with why."""

    path: str
    format: str
    digest: str
    name: str
    packages: tuple[Package, ...]
    os: OSRelease | None
    skipped: int
    problems: tuple[str, ...]


def read_sbom(path: str) -> SbomInput:
    """Read and interpret the SBOM at ``path`` (``-``: stdin); ``InputError`` when it is
    not one."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_SBOM + 1)
        path = "stdin"
    else:
        data = _read_file(path)
    if len(data) > MAX_SBOM:
        raise InputError(f"SBOM {path}: larger than the {MAX_SBOM} byte limit", hint=_HINT)
    try:
        doc = jsondoc.loads(data)
    except jsondoc.TooDeep as err:
        raise InputError(f"SBOM {path}: {err}", hint=_HINT) from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, TooDeep
        raise InputError(f"SBOM {path}: not JSON: {err}", hint=_HINT) from None
    reader = _Reader(path)
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        fmt, name = "cyclonedx", reader.cyclonedx(doc)
    elif isinstance(doc, dict) and str(doc.get("spdxVersion", "")).startswith("SPDX-2."):
        fmt, name = "spdx", reader.spdx(doc)
    else:
        raise InputError(
            f"SBOM {path}: neither CycloneDX (bomFormat) nor SPDX 2.x JSON (spdxVersion)",
            hint=_HINT,
        )
    packages = reader.packages()
    problems = list(reader.problems[:_MAX_PROBLEMS])
    if reader.skipped > len(problems):
        problems.append(f"... and {reader.skipped - len(problems)} more components skipped")
    return SbomInput(
        path=path,
        format=fmt,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        name=name or Path(path).name,
        packages=tuple(packages),
        os=reader.os_release(),
        skipped=reader.skipped,
        problems=tuple(problems),
    )


@dataclass(frozen=True)
class _Listed:
    """One component as the document states it, before its distribution is known."""

    purl: PackageURL
    ecosystem: str
    name: str
    version: str
    source_name: str
    source_version: str
    licenses: tuple[str, ...]


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.listed: list[_Listed] = []
        self.os_component: tuple[str, str, str] | None = None  # (id, version, pretty name)
        self.problems: list[str] = []
        self.skipped = 0

    def skip(self, what: str, reason: str) -> None:
        self.skipped += 1
        self.problems.append(f"{what}: {reason}")

    # --- CycloneDX ---------------------------------------------------------------------

    def cyclonedx(self, doc: dict[str, Any]) -> str:
        metadata = doc.get("metadata")
        root = metadata.get("component") if isinstance(metadata, dict) else None
        for component in _components(doc, root):
            if component.get("type") == "operating-system":
                self._os(
                    component.get("name"), component.get("version"), component.get("description")
                )
                continue
            purl = component.get("purl")
            what = f"component {_text(component.get('name')) or _text(component.get('bom-ref'))!r}"
            if not purl:
                if component.get("type") in ("library", "framework"):  # not containers
                    self.skip(what, "no purl")
                continue
            props = _cdx_properties(component.get("properties"))
            self._add(
                what,
                purl,
                source=(
                    props.get("hardbox:source:name") or props.get("aquasecurity:trivy:SrcName", ""),
                    props.get("hardbox:source:version")
                    or props.get("aquasecurity:trivy:SrcVersion", ""),
                ),
                licenses=_cdx_licenses(component.get("licenses")),
            )
        return _text(root.get("name")) if isinstance(root, dict) else ""

    # --- SPDX ----------------------------------------------------------------------------

    def spdx(self, doc: dict[str, Any]) -> str:
        packages = doc.get("packages")
        if not isinstance(packages, list):
            packages = []
        if len(packages) > MAX_COMPONENTS:
            raise InputError(f"SBOM {self.path}: more than {MAX_COMPONENTS} packages", hint=_HINT)
        described = {_text(r) for r in doc.get("documentDescribes") or [] if isinstance(r, str)}
        name = ""
        for package in packages:
            if not isinstance(package, dict):
                continue
            purpose = package.get("primaryPackagePurpose")
            if purpose == "OPERATING-SYSTEM":
                self._os(
                    package.get("name"), package.get("versionInfo"), package.get("description")
                )
                continue
            purls = [
                ref.get("referenceLocator")
                for ref in package.get("externalRefs") or []
                if isinstance(ref, dict) and ref.get("referenceType") == "purl"
            ]
            what = f"package {_text(package.get('name')) or _text(package.get('SPDXID'))!r}"
            if not purls:
                if purpose == "CONTAINER" or package.get("SPDXID") in described:
                    name = name or _text(package.get("name"))
                else:
                    self.skip(what, "no purl")
                continue
            match = _SPDX_SOURCE.match(_text(package.get("sourceInfo")))
            declared = _text(package.get("licenseDeclared"))
            self._add(
                what,
                purls[0],
                source=(match.group(1), match.group(2) or "") if match else ("", ""),
                licenses=(declared,) if declared not in ("", "NOASSERTION", "NONE") else (),
            )
        return name or _text(doc.get("name"))

    # --- shared --------------------------------------------------------------------------

    def _os(self, name: object, version: object, description: object) -> None:
        if isinstance(name, str) and name.strip() and self.os_component is None:
            version_id = _text(version)
            self.os_component = (
                name.strip().lower(),
                "" if version_id == "NOASSERTION" else version_id,
                _text(description),
            )

    def _add(
        self, what: str, purl: object, source: tuple[str, str], licenses: tuple[str, ...]
    ) -> None:
        if not isinstance(purl, str):
            self.skip(what, "the purl is not a string")
            return
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError as err:
            self.skip(what, f"malformed purl {purl[:200]!r}: {err}")
            return
        ecosystem = _BY_PURL_TYPE.get(parsed.type)
        if ecosystem is None:
            self.skip(what, f"purl type {parsed.type!r} is not an ecosystem hardbox matches")
            return
        quals = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
        version = parsed.version or ""
        epoch = quals.get("epoch", "")
        if epoch and ":" not in version:
            version = f"{epoch}:{version}"
        if not source[0] and quals.get("upstream"):
            source = _upstream(quals["upstream"])
        self.listed.append(
            _Listed(
                purl=parsed,
                ecosystem=ecosystem,
                name=_name(ecosystem, parsed),
                version=version,
                source_name=source[0],
                source_version=source[1] or (version if source[0] else ""),
                licenses=licenses,
            )
        )

    def os_release(self) -> OSRelease | None:
        """The distribution: the OS component, else the OS packages' commonest ``distro``
        qualifier, else their commonest purl namespace (no version then)."""
        if self.os_component is not None:
            os_id, version, pretty = self.os_component
            return OSRelease(
                id=os_id, version_id=version, pretty_name=pretty or f"{os_id} {version}".strip()
            )
        distros = Counter(
            str(item.purl.qualifiers.get("distro", ""))
            for item in self.listed
            if is_os(item.ecosystem) and isinstance(item.purl.qualifiers, dict)
        )
        distros.pop("", None)
        for distro, _ in distros.most_common(1):
            m = _DISTRO.fullmatch(distro)
            if m:
                return OSRelease(id=m["id"], version_id=m["version"], pretty_name=distro)
        spaces = Counter(item.purl.namespace for item in self.listed if is_os(item.ecosystem))
        spaces.pop(None, None)
        for namespace, _ in spaces.most_common(1):
            return OSRelease(id=str(namespace).lower(), pretty_name=str(namespace))
        return None

    def packages(self) -> list[Package]:
        out: dict[tuple[str, str, str, str], Package] = {}
        for item in self.listed:
            try:
                pkg = Package(
                    name=item.name,
                    version=item.version,
                    ecosystem=item.ecosystem,
                    purl=item.purl.to_string(),
                    cataloger=f"sbom/{item.ecosystem}",
                    arch=str((item.purl.qualifiers or {}).get("arch", "")),
                    source_name=item.source_name,
                    source_version=item.source_version,
                    licenses=item.licenses,
                    locations=(self.path,),
                )
            except ValueError as err:
                self.skip(f"purl {item.purl.to_string()[:200]!r}", str(err))
                continue
            out.setdefault((pkg.ecosystem, pkg.name, pkg.version, pkg.arch), pkg)
        return sorted(out.values(), key=Package.sort_key)


def _read_file(path: str) -> bytes:
    file = require_file_or_dir(path, "SBOM")
    try:
        if file.is_dir():
            raise InputError(f"SBOM {path}: a directory, not a file", hint=_HINT)
        with file.open("rb") as fh:
            return fh.read(MAX_SBOM + 1)
    except OSError as err:
        raise InputError(f"SBOM {path}: cannot read: {err.strerror or err}", hint=_HINT) from None


def _components(doc: dict[str, Any], root: object) -> Iterator[dict[str, Any]]:
    """Every component of a CycloneDX document, nested ones too, without recursion; the
    metadata's own component (the image) is not a package but may nest the OS."""
    stack: list[Any] = [doc.get("components")]
    if isinstance(root, dict):
        stack.append(root.get("components"))
    seen = 0
    while stack:
        items = stack.pop()
        if not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, dict):
                continue
            seen += 1
            if seen > MAX_COMPONENTS:
                raise InputError(f"SBOM: more than {MAX_COMPONENTS} components", hint=_HINT)
            yield item
            stack.append(item.get("components"))


def _upstream(value: str) -> tuple[str, str]:
    """Syft's ``upstream`` qualifier: ``NAME``, ``NAME@VERSION`` (deb, apk) or the source
    RPM's file name (``bash-5.1.8-6.el9.src.rpm``)."""
    if value.endswith(".rpm"):
        stem = value.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
        parts = stem.rsplit("-", 2)
        return (parts[0], f"{parts[1]}-{parts[2]}") if len(parts) == 3 else (stem, "")
    name, _, version = value.partition("@")
    return name, version


def _name(ecosystem: str, purl: PackageURL) -> str:
    """The package's name as hardbox's cataloger of its ecosystem spells it."""
    if not purl.namespace:
        return purl.name
    if ecosystem == "maven":
        return f"{purl.namespace}:{purl.name}"
    if ecosystem in ("npm", "golang"):
        return f"{purl.namespace}/{purl.name}"
    return purl.name  # deb/apk/rpm: the namespace is the distribution


def _cdx_properties(props: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for prop in props if isinstance(props, list) else []:
        if isinstance(prop, dict) and isinstance(prop.get("name"), str):
            out.setdefault(prop["name"], _text(prop.get("value")))
    return out


def _cdx_licenses(licenses: object) -> tuple[str, ...]:
    out = []
    for choice in licenses if isinstance(licenses, list) else []:
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("expression"), str):
            out.append(choice["expression"])
        elif isinstance(choice.get("license"), dict):
            lic = choice["license"]
            value = lic.get("id") or lic.get("name")
            if isinstance(value, str) and value:
                out.append(value)
    return tuple(out)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
