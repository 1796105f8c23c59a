"""``hardbox db``: load OSV advisories into the local vulnerability index and say what is
loaded. Thin: parse, call ``hardbox.scan.vulndb`` (imported inside the handlers), print.

``db status --json`` prints ``{path, size, advisories, withdrawn, ecosystems: {ECOSYSTEM:
{advisories}}, newest_modified, last_import, age_seconds, imports: [{source, finished,
added, updated, unchanged, skipped}]}`` (docs/vulnerability-db.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardbox.cli.output import Progress, human_size, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser(
        "db", help="load and inspect the offline vulnerability database",
        description="hardbox matches packages against OSV advisories (osv.dev's format) kept "
        "in a local index, <store root>/db/osv.sqlite unless --db says otherwise. It never "
        "downloads anything: fetch OSV's per-ecosystem all.zip archives (or any OSV JSON) "
        "on a connected machine, carry them over, and import them here.",
    )
    db.set_defaults(_parser=db)
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")

    p = sub.add_parser(
        "import", help="import OSV advisories from files, folders or all.zip archives",
        description="Import OSV records: single .json files (one record or an array), .yaml "
        "files (one record, as the PyPA advisory-database publishes them), folders (searched "
        "recursively for .json, .yaml and .zip), and OSV's per-ecosystem all.zip archives. "
        "An import that finds no advisory at all fails (exit 2) and names what it saw. "
        "A record already loaded is replaced only by a newer one (its 'modified' time). A "
        "malformed record is reported and skipped; the rest is imported. A path that does not "
        "exist, is neither JSON nor zip, or is a zip bomb fails the whole import (exit 2) and "
        "leaves the database as it was.",
        epilog="examples: hardbox db import Debian/all.zip PyPI/all.zip; "
        "hardbox db import ./advisories/ --db /srv/osv.sqlite",
    )
    p.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="file, folder or zip")
    p.add_argument("--db", metavar="PATH", type=Path, help="index file (default: <store root>/db/osv.sqlite)")
    p.add_argument("--json", action="store_true",
                   help="print {sources, added, updated, unchanged, skipped: [{where, id, reason}]}")
    p.set_defaults(func=_import)

    p = sub.add_parser(
        "status", help="show what the vulnerability database holds and how old it is",
        description="Counts of advisories per OSV ecosystem, the imports so far, and the age "
        "of the newest import. Old data hides new vulnerabilities: re-import regularly.",
    )
    p.add_argument("--db", metavar="PATH", type=Path, help="index file (default: <store root>/db/osv.sqlite)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=_status)


def _import(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import import_db_path
    from hardbox.scan.vulndb.importer import import_into, plan

    plan(args.paths)  # refuse unusable paths before creating anything
    path = import_db_path(args.db)
    progress = Progress("importing advisories")
    seen = 0

    def tick(_where: str) -> None:
        # Redraw every 500 records: an all.zip holds hundreds of thousands.
        nonlocal seen
        seen += 1
        if seen % 500 == 0:
            progress.advance(500)

    try:
        # All or nothing: a failed, empty or killed import leaves the database as it was,
        # and a first one leaves none (not an empty one the gate would trust).
        report = import_into(path, args.paths, progress=tick)
    finally:
        progress.finish()
    if args.json:
        print_json({**report.to_dict(), "db": str(path)})
        return 0
    counts = report.counts
    print(f"{path}: {counts['added']} added, {counts['updated']} updated, "
          f"{counts['unchanged']} unchanged, {counts['skipped']} skipped")
    for skipped in report.skipped[:50]:
        sys.stderr.write(f"  skipped {skipped}\n")
    if len(report.skipped) > 50:
        sys.stderr.write(f"  ... and {len(report.skipped) - 50} more (--json lists them all)\n")
    return 0


def _status(args: argparse.Namespace) -> int:
    from hardbox.scan.vulndb import open_db

    with open_db(args.db) as index:
        status = index.status()
    if args.json:
        print_json(status)
        return 0
    print(f"database:   {status['path']} ({human_size(status['size'])})")
    print(f"advisories: {status['advisories']} ({status['withdrawn']} withdrawn)")
    print(f"last import: {status['last_import'] or 'never'}{_age(status['age_seconds'])}")
    print(f"newest record modified: {status['newest_modified'] or '-'}")
    if status["ecosystems"]:
        print("ecosystems:")
        width = max(len(e) for e in status["ecosystems"])
        for ecosystem, info in status["ecosystems"].items():
            print(f"  {ecosystem:<{width}}  {info['advisories']}")
    sources = _sources(status["imports"])
    if sources:
        print("sources:")
        for source, finished in sources.items():
            print(f"  {source}  (imported {finished})")
    return 0


def _sources(imports: list[dict[str, Any]]) -> dict[str, str]:
    latest: dict[str, str] = {}
    for entry in imports:
        latest[entry["source"]] = entry["finished"]
    return latest


def _age(seconds: int | None) -> str:
    if seconds is None:
        return ""
    days, rest = divmod(seconds, 86400)
    return f" ({days} days ago)" if days else f" ({rest // 3600} hours ago)"
