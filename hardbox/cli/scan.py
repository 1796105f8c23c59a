"""``hardbox scan IMAGE``: vulnerabilities, misconfigurations and secrets, as reports.

Thin: parse, open the image, call ``hardbox.scan.scanner.scan``, render each requested format
with its reporter and write the files. Exit 0 whatever is found, unless ``--fail-on`` is given
(docs/architecture.md, "Shared conventions": deciding is ``gate``'s job).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hardbox.cli.inputs import add_db_argument, add_pull_arguments
from hardbox.cli.options import add_command
from hardbox.cli.output import add_report_arguments

if TYPE_CHECKING:
    from hardbox.image.source import ImageSource
    from hardbox.scan.result import ScanResult

# The report formats scan writes (each a --FORMAT FILE option), in REPORTERS' names.
FORMATS = {
    "json": "JSON report (schema: docs/report-json.md)",
    "html": "self-contained HTML risk report",
    "sarif": "SARIF 2.1.0 for code-scanning UIs",
    "markdown": "Markdown for a pull-request comment",
}

_DESCRIPTION = """\
Scan IMAGE in one pass over its files: the packages every cataloger finds (as `hardbox sbom`
does), their known vulnerabilities from the local OSV database (`hardbox db import`),
misconfigurations (runs as root, SSH exposed, setuid files, keys baked in, files deleted in a
later layer that still ship in an earlier one, ...) and secrets in files, ENV, labels and build
history (cloud keys, VCS tokens, private keys, registry auths; values are always redacted).
Every finding names the layer that brought it. The risk grade (A best to F) is decided by the
worst findings; the report says how.

With no format flag, prints a summary and writes reports/<image>-<short id>.html and .json
under the current directory. Each format flag takes a FILE; `-` writes that one format to
stdout (then the summary goes to stderr)."""

_EPILOG = """\
examples:
  hardbox scan bbtest                                summary + reports/bbtest-latest-<id>.html/.json
  hardbox scan docker-archive:app.tar --html app.html --sarif app.sarif
  hardbox scan oci:./layout:latest --json - | jq .risk
  hardbox scan myapp --severity critical,high --ignore-unfixed --fail-on high
  hardbox scan dir:/srv/rootfs --markdown pr-comment.md --skip-secrets
  hardbox scan sbom:app.cdx.json --sarif app.sarif   the packages an SBOM lists (CycloneDX/SPDX JSON)

exit codes: 0 scanned (whatever was found); 1 a listed finding is at or above --fail-on;
2 the image or an option is unusable. --severity and --ignore-unfixed narrow what is listed
and what --fail-on sees; the risk grade always counts every finding."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "scan", handler,
                         help="scan an image for vulnerabilities, misconfigurations and secrets",
                         description=_DESCRIPTION, epilog=_EPILOG)
    parser.add_argument("image", metavar="IMAGE",
                        help="stored image (name, name@digest, id prefix), docker://REF (a "
                             "registry image; so is a name the store lacks), archive/layout "
                             "path, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH, "
                             "dir:PATH, or sbom:FILE (a CycloneDX or SPDX JSON SBOM, - = stdin: its "
                             "packages are matched, nothing else is checked)")
    add_report_arguments(parser, FORMATS)
    add_pull_arguments(parser, temporary=True)
    add_db_argument(parser, "vulnerability index (default: <store>/db/osv.sqlite); when there "
                    "is none, vulnerabilities are not matched and the report says so")
    parser.add_argument("--db-update", action="store_true",
                        help="run `hardbox db update` for the image's ecosystems first; if that "
                             "fails, scan with the data there is and record why")
    parser.add_argument("--db-max-age", metavar="AGE", default="24h",
                        help="note (in the summary and every report) a database older than this "
                             "(24h, 7d, seconds; default 24h)")
    parser.add_argument("--severity", metavar="LIST",
                        help="list only these severities, comma-separated "
                             "(critical,high,medium,low,info)")
    parser.add_argument("--ignore-unfixed", action="store_true",
                        help="leave out vulnerabilities that have no fixed version")
    parser.add_argument("--fail-on", metavar="SEVERITY",
                        help="exit 1 when a listed finding is this severe or worse")
    parser.add_argument("--skip-secrets", action="store_true",
                        help="do not read file contents for secrets (config and history are "
                             "still checked)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary, no progress")


def handler(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import pull_options, vuln_db
    from hardbox.cli.output import Progress, report_targets, write_reports
    from hardbox.findings import Severity
    from hardbox.image.source import parse_source
    from hardbox.image.store.shifted import enter_store_userns
    from hardbox.image.store.store import Store
    from hardbox.report import REPORTERS
    from hardbox.root import default_root
    from hardbox.scan.scanner import ScanOptions, scan

    targets = report_targets(args, FORMATS)
    severities = tuple(Severity.parse(s) for s in args.severity.split(",") if s.strip()) \
        if args.severity else ()
    fail_on = Severity.parse(args.fail_on) if args.fail_on else None
    max_age = _max_age(args.db_max_age)
    update_note = _db_update(args) if args.db_update else None
    db = vuln_db(args.db, required=False)

    if args.image.startswith("sbom:"):  # an SBOM, not an image: no store, no walk
        from hardbox.scan.sbom_input import read_sbom
        from hardbox.scan.sbom_scan import scan_sbom

        sbom_path = args.image.removeprefix("sbom:")
        result = scan_sbom(read_sbom(sbom_path), db, ScanOptions(
            severities=severities, ignore_unfixed=args.ignore_unfixed, db_max_age=max_age))
        name = re.sub(r"\.(cdx|spdx)$", "", Path(sbom_path).name.removesuffix(".json"))
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "sbom"
    else:
        enter_store_userns(default_root())  # rootless: read shifted layers as their owners do
        progress = Progress("scan") if not args.quiet else None
        source = parse_source(args.image)
        options = ScanOptions(name=source.name, secrets=not args.skip_secrets,
                              config=source.has_config,
                              severities=severities, ignore_unfixed=args.ignore_unfixed,
                              db_max_age=max_age)
        with source.open(Store.open(), pull=pull_options(args, keep=False)) as image:
            result = scan(image, db, options,
                          progress=(lambda stage: progress.advance(note=stage)) if progress else None)
        if progress:
            progress.finish()
        stem = report_stem(source)
    if update_note:
        result = dataclasses.replace(result, notes=(update_note, *result.notes))

    if not targets:
        base = Path("reports") / f"{stem}-{result.image.short_id}"
        targets = {"html": f"{base}.html", "json": f"{base}.json"}
    to_stdout = write_reports(targets, {fmt: partial(REPORTERS[fmt]().render, result)
                                        for fmt in targets})

    if not args.quiet:
        out = sys.stderr if to_stdout else sys.stdout
        out.write(summary(result, [t for t in targets.values() if t != "-"], out))
    if fail_on is not None:
        worst = [f for f in result.findings if f.severity.rank >= fail_on.rank]
        if worst:
            sys.stderr.write(f"hardbox: {len(worst)} findings at or above {fail_on.value} "
                             f"(--fail-on {fail_on.value})\n")
            return 1
    return 0


def _max_age(text: str) -> int:
    from hardbox.errors import UsageError
    from hardbox.scan.coverage import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise UsageError(f"--db-max-age {err}", hint="say 24h, 90m, 7d or a number of seconds") from None


def _db_update(args: argparse.Namespace) -> str | None:
    """``--db-update``: refresh the ecosystems of this image (catalogued once, unmatched)
    and return a note when the refresh failed; the scan goes on with what it has."""
    from hardbox.cli.db import run_update
    from hardbox.cli.inputs import import_db_path
    from hardbox.errors import HardboxError
    from hardbox.image.source import parse_source
    from hardbox.image.store.store import Store
    from hardbox.scan.scanner import ScanOptions, scan
    from hardbox.scan.vulndb.update import archive_names

    if args.image.startswith("sbom:"):
        from hardbox.scan.sbom_input import read_sbom

        sbom = read_sbom(args.image.removeprefix("sbom:"))
        wanted = archive_names(sbom.packages, sbom.os.osv_ecosystem if sbom.os else None)
    else:
        source = parse_source(args.image)
        with source.open(Store.open()) as image:
            catalogued = scan(image, None, ScanOptions(name=source.name, secrets=False))
        wanted = archive_names(catalogued.packages,
                               (catalogued.image.os or {}).get("osv_ecosystem"))
    if not wanted:
        return None
    try:
        report = run_update(import_db_path(args.db), wanted, None, quiet=args.quiet)
    except HardboxError as err:
        note = f"--db-update failed, scanned with the database as it was: {err}"
        sys.stderr.write(f"hardbox: {note}\n")
        return note
    if not args.quiet:
        from hardbox.cli.db import update_summary

        sys.stderr.write(update_summary(import_db_path(args.db), report) + "\n")
    return None


def report_stem(source: ImageSource) -> str:
    """A file-name-safe stem for the default reports: ``bbtest`` -> ``bbtest-latest``,
    ``docker-archive:/tmp/app.tar`` -> ``app``, ``quay.io/org/app:1.2`` -> ``app-1.2``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", source.stem).strip("._") or "image"


def summary(result: ScanResult, written: list[str], stream: TextIO | None = None) -> str:
    """The human summary; severities coloured when ``stream`` (where it goes) takes colour."""
    from hardbox.cli.terminal import paint
    from hardbox.report.common import where
    from hardbox.report.priorities import fix_first
    from hardbox.scan.coverage import counted
    from hardbox.scan.upgrades import Upgrade

    image = result.image
    os_name = (image.os or {}).get("pretty_name") or (image.os or {}).get("id") or "unknown OS"
    sev = result.severity_counts()
    kinds = {k: sum(v.values()) for k, v in result.counts().items()}
    lines = [
        (f"{image.name} (SBOM {image.short_id}): {os_name}, no image (layers, config and files not checked), "
         if image.source == "sbom" else
         f"{image.name} ({image.short_id}): {os_name}, {counted(len(image.layers), 'layer')}, ")
        + f"{counted(len(result.packages), 'package')}",
        f"risk grade {result.risk.grade}: {result.risk.reason}",
        "findings: " + ", ".join(f"{n} {s}" for s, n in sev.items())
        + " (" + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")",
    ]
    # The reports' "what to fix first": an upgrade that fixes several advisories ranks as one
    # item, by what it fixes, among the single findings.
    for item in fix_first(result, 5):
        if isinstance(item, Upgrade):
            worst, kind, text = item.worst, "upgrade", item.summary().removeprefix("upgrade ")
        else:
            worst, kind, text = item.severity, item.id, f"{item.title} — {where(item, 50)}"
        label = f"{worst.value.upper():8}"
        label = paint(label, worst.value, stream) if stream is not None else label
        lines.append(f"  {label} {kind:14} {text}")
    if result.vuln_db is not None:
        from hardbox.scan.coverage import describe_age

        cov = result.coverage
        lines.append(f"vulnerability data: updated {cov.db_updated or 'never'}"
                     + (f" ({describe_age(cov.db_age_seconds())} old)" if cov.db_updated else "")
                     + ("; coverage complete" if cov.complete else
                        f"; {sum(e.unchecked for e in cov.gaps)} packages not checked"))
    lines += [f"note: {n}" for n in result.notes]
    if written:
        lines.append("reports: " + ", ".join(written))
    return "\n".join(lines) + "\n"
