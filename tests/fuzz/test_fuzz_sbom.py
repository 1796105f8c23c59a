"""Fuzz ``hardbox scan sbom:FILE`` with CycloneDX and SPDX JSON documents damaged
structurally (wrong types, deleted and duplicated keys, deep nesting) and byte-wise. A
damaged component is data (skipped with its reason, exit 0); a file that is no SBOM is
exit 2 in one line; never a traceback or a hang. The seeds are shaped as hardbox's own
writers and Syft write them: an operating-system component, deb/rpm purls with distro,
epoch and upstream qualifiers, nested components, SPDX external purl references."""

from __future__ import annotations

import itertools
from pathlib import Path

import fuzzkit
import mutate
import pytest
from hypothesis import given

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()

CYCLONEDX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "version": 1,
    "metadata": {"component": {"type": "container", "name": "app", "components": []}},
    "components": [
        {"type": "operating-system", "name": "debian", "version": "12"},
        {"type": "library", "name": "libc6", "version": "2.36-9",
         "purl": "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12",
         "properties": [{"name": "hardbox:source:name", "value": "glibc"}]},
        {"type": "library", "name": "bash", "version": "1:4.4.20-4.el8",
         "purl": "pkg:rpm/redhat/bash@4.4.20-4.el8?epoch=1&upstream=bash-4.4.20-4.el8.src.rpm",
         "licenses": [{"license": {"id": "GPL-3.0-or-later"}}, {"expression": "MIT OR X11"}]},
        {"type": "application", "name": "site", "components": [
            {"type": "library", "name": "core", "group": "@babel", "version": "7.0.0",
             "purl": "pkg:npm/%40babel/core@7.0.0"},
        ]},
    ],
}

SPDX = {
    "spdxVersion": "SPDX-2.3",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "app",
    "documentDescribes": ["SPDXRef-Image"],
    "packages": [
        {"SPDXID": "SPDXRef-Image", "name": "app", "primaryPackagePurpose": "CONTAINER"},
        {"SPDXID": "SPDXRef-OS", "name": "alpine", "versionInfo": "3.19.1",
         "primaryPackagePurpose": "OPERATING-SYSTEM"},
        {"SPDXID": "SPDXRef-P1", "name": "musl", "versionInfo": "1.2.4-r2",
         "sourceInfo": "built from source package musl 1.2.4-r2", "licenseDeclared": "MIT",
         "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                           "referenceLocator": "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"}]},
    ],
}


@pytest.mark.parametrize("seed", [CYCLONEDX, SPDX], ids=["cyclonedx", "spdx"])
def test_scan_sbom_documents(seed: dict[str, object], tmp_path: Path, store_root: Path) -> None:
    @fuzzkit.fuzz_settings()
    @given(data=mutate.json_document(seed))
    def one(data: bytes) -> None:
        path = tmp_path / f"sbom-{next(_counter)}.json"
        path.write_bytes(data)
        out = fuzzkit.run_cli(
            ["scan", f"sbom:{path}", "--json", str(tmp_path / "r.json"), "-q"], root=store_root
        )
        fuzzkit.check("SBOM", out)

    one()
