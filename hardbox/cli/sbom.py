"""``hardbox sbom IMAGE``: the software bill of materials of an image, as CycloneDX 1.6 (JSON
or XML) or SPDX 2.3 JSON, from one walk of the image's files by every cataloger."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbox.cli.inputs import add_db_argument, add_pull_arguments
from hardbox.cli.options import add_command

if TYPE_CHECKING:
    from hardbox.findings import Finding
    from hardbox.scan.catalog_result import CatalogResult

FORMATS = ("cyclonedx-json", "cyclonedx-xml", "spdx-json")

_DESCRIPTION = """\
Write the software bill of materials of IMAGE: the image as the root component (digest,
tags, base OS), its operating system from /etc/os-release, and every package the catalogers
find - dpkg, apk, rpm (sqlite, Berkeley DB or ndb database), Python dist-info/egg-info,
npm node_modules, Go binaries (embedded build info), Java archives (pom.properties,
manifests, nested jars).
Each package has its purl, licenses, source package and the layer that brought it
(properties hardbox:layer:diff_id and hardbox:layer:index). A package database the
catalogers cannot read is recorded in the SBOM (hardbox:cataloger:NAME:status) and the
rest of the SBOM is still written."""

_EPILOG = """\
examples:
  hardbox sbom debian:bookworm                      CycloneDX JSON to stdout
  hardbox sbom oci:./layout:latest -o sbom.xml --format cyclonedx-xml
  hardbox sbom dir:/srv/rootfs --format spdx-json -o rootfs.spdx.json
  hardbox sbom docker-archive:app.tar --with-files  also list the files each package owns
  hardbox sbom debian:bookworm --with-vulns         add matches from `hardbox db import`ed advisories

IMAGE is a stored image (name, name@digest, id prefix), a docker-archive/OCI layout path,
or dir:PATH for an unpacked root filesystem."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "sbom", handler,
                         help="write the software bill of materials (CycloneDX or SPDX) of an image",
                         description=_DESCRIPTION, epilog=_EPILOG)
    parser.add_argument(
        "image", metavar="IMAGE", help="image reference, docker://REF, archive/layout path, "
        "or dir:PATH"
    )
    add_pull_arguments(parser, temporary=True)
    parser.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="write here instead of stdout (- = stdout)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="cyclonedx-json",
        help="output format (default: cyclonedx-json)",
    )
    parser.add_argument(
        "--with-files",
        action="store_true",
        help="list the files each package owns (CycloneDX formats only)",
    )
    parser.add_argument(
        "--with-vulns",
        action="store_true",
        help="match the packages against the local OSV index and add CycloneDX's vulnerabilities section",
    )
    add_db_argument(parser, "vulnerability index for --with-vulns (default: <store>/db/osv.sqlite)")


def handler(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import pull_options, vuln_db
    from hardbox.cli.output import write_output
    from hardbox.errors import UsageError
    from hardbox.image.source import parse_source
    from hardbox.image.store.shifted import enter_store_userns
    from hardbox.image.store.store import Store
    from hardbox.root import default_root
    from hardbox.scan.catalog_result import catalog_image
    from hardbox.scan.prepare import prepare_image
    from hardbox.scan.sbom.build import write_sbom

    if args.format == "spdx-json" and (args.with_files or args.with_vulns):
        flag = "--with-files" if args.with_files else "--with-vulns"
        raise UsageError(f"{flag} is a CycloneDX feature: SPDX 2.3 output has no place for it")
    if args.db is not None and not args.with_vulns:
        raise UsageError("--db is only read with --with-vulns")
    db = vuln_db(args.db, required=True) if args.with_vulns else None

    enter_store_userns(default_root())  # rootless: read shifted layers as their owners do
    with parse_source(args.image).open(Store.open(), pull=pull_options(args, keep=False)) as opened:
        # Scrubbed of credentials: the SBOM names the layer (and its created_by) that
        # brought each package, as hardbox scan's reports do.
        image = prepare_image(opened)
        result = catalog_image(image, with_files=args.with_files)
        findings = _vulnerabilities(result, db) if db is not None else []
        text = write_sbom(image, result, args.format, with_files=args.with_files, findings=findings)
    write_output(args.output, text)
    if args.output != "-":
        counts: dict[str, int] = {}
        for pkg in result.packages:
            counts[pkg.ecosystem] = counts.get(pkg.ecosystem, 0) + 1
        summary = ", ".join(f"{n} {eco}" for eco, n in sorted(counts.items())) or "no packages"
        vulns = f"; {len(findings)} vulnerabilities" if args.with_vulns else ""
        sys.stderr.write(f"hardbox: wrote {args.output}: {summary}{vulns}\n")
    for status in result.statuses:
        if status.status.value != "succeeded":
            reason = status.reasons[0] if status.reasons else ""
            sys.stderr.write(
                f"hardbox: warning: cataloger {status.cataloger} {status.status.value}: {reason}\n"
            )
    return 0


def _vulnerabilities(result: CatalogResult, db: Path) -> list[Finding]:
    """Match the catalog against the OSV index, as ``hardbox scan`` does; per-package
    matching problems are warnings."""
    from hardbox.scan.vulndb import match, open_db

    with open_db(db) as index:
        matched = match(result.packages, result.os, index)
    for error in matched.errors:
        sys.stderr.write(f"hardbox: warning: {error}\n")
    return matched.findings
