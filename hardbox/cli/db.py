"""``hardbox db``: load OSV advisories into the local vulnerability index and say what is
loaded. Thin: parse, call ``hardbox.scan.vulndb`` (imported inside the handlers), print.

``db status --json`` prints ``{path, size, advisories, withdrawn, ecosystems: {ECOSYSTEM:
{advisories}}, newest_modified, last_import, age_seconds, imports: [{source, finished,
added, updated, unchanged, skipped}], sources: [{url, etag, last_modified, size, mtime,
checked}]}`` (docs/vulnerability-db.md); ``sources`` are what ``db update`` fetched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardbox.cli.inputs import add_db_argument
from hardbox.cli.options import add_command, add_group, add_json_flag
from hardbox.cli.output import Progress, human_size, print_json

_DB_HELP = "index file (default: <store root>/db/osv.sqlite)"


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = add_group(
        subparsers, "db", help="load and inspect the offline vulnerability database",
        description="hardbox matches packages against OSV advisories (osv.dev's format) kept "
        "in a local index, <store root>/db/osv.sqlite unless --db says otherwise. `db update` "
        "fetches OSV's per-ecosystem all.zip archives (osv.dev, or a mirror); `db import` loads "
        "files carried over by hand. scan and gate never download on their own.",
    )

    p = add_command(
        sub, "import", _import, help="import OSV advisories from files, folders or all.zip archives",
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
    add_db_argument(p, _DB_HELP)
    add_json_flag(p, "print {sources, added, updated, unchanged, skipped: [{where, id, reason}]}")

    p = add_command(
        sub, "update", _update, help="fetch OSV's per-ecosystem archives and load what changed",
        description="Fetch <source>/<Ecosystem>/all.zip for each ecosystem (OSV's names: "
        "Debian, Alpine, Ubuntu, PyPI, npm, Go, Maven, crates.io, ...) and import it. The "
        "source is --source, else $HARDBOX_DB_SOURCE, else osv.dev's public bucket; an "
        "https:// or file:// URL or a plain folder (an air-gapped mirror). Later updates read "
        "<Ecosystem>/modified_id.csv and fetch only the records changed since (the whole "
        "archive where the source has no such list); unchanged files are not downloaded "
        "again (ETag / If-Modified-Since). An update that fails or is interrupted leaves the "
        "previous database whole and exits 2.",
        epilog="examples: hardbox db update --ecosystem Debian --ecosystem PyPI; "
        "HARDBOX_DB_SOURCE=/srv/osv-mirror hardbox db update",
    )
    p.add_argument("--ecosystem", metavar="E", action="append", default=[],
                   help="an OSV ecosystem to fetch (repeatable); default: those of the stored images")
    p.add_argument("--source", metavar="URL", help="base URL or folder (default: $HARDBOX_DB_SOURCE, "
                   "else https://osv-vulnerabilities.storage.googleapis.com)")
    add_db_argument(p, _DB_HELP)
    add_json_flag(p, "print {db, source, downloaded: {ECOSYSTEM: bytes}, records: {ECOSYSTEM: count}, "
                  "unchanged: [...], added, updated, ...}")

    p = add_command(
        sub, "status", _status, help="show what the vulnerability database holds and how old it is",
        description="Counts of advisories per OSV ecosystem, the imports so far, and the age "
        "of the newest import. Old data hides new vulnerabilities: re-import regularly.",
    )
    add_db_argument(p, _DB_HELP)
    add_json_flag(p, "print the status as JSON")


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


def _update(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import import_db_path
    from hardbox.scan.vulndb.update import resolve_source

    ecosystems = list(dict.fromkeys(args.ecosystem)) or _store_ecosystems()
    path = import_db_path(args.db)
    report = run_update(path, ecosystems, args.source, quiet=args.json)
    if args.json:
        print_json({"db": str(path), "source": resolve_source(args.source), **report.to_dict()})
        return 0
    print(update_summary(path, report))
    return 0


def run_update(path: Path, ecosystems: list[str], source: str | None, *, quiet: bool = False) -> Any:
    """``update`` with a progress line on a terminal (shared with ``scan --db-update``): the
    step, the bytes downloaded so far, then the advisories imported. Nothing when stderr is
    not a terminal, or with ``quiet`` (``--json``, ``-q``)."""
    from hardbox.scan.vulndb.update import update

    progress = Progress("db update")
    progress.enabled = progress.enabled and not quiet
    step = ""
    received = shown = seen = 0

    def say(message: str) -> None:
        nonlocal step
        step = message
        progress.advance(0, note=message)

    def on_bytes(n: int) -> None:
        # Redraw every 256 kB: an all.zip is hundreds of MB, in 1 MiB chunks or smaller.
        nonlocal received, shown
        received += n
        if received - shown >= 256_000:
            shown = received
            progress.advance(0, note=f"{step}: {human_size(received)} downloaded")

    def tick(_where: str) -> None:
        nonlocal seen
        seen += 1
        if seen % 500 == 0:
            progress.advance(500, note="advisories imported")

    try:
        return update(path, ecosystems, source, say=say, progress=tick, on_bytes=on_bytes)
    finally:
        progress.finish()


def update_summary(path: Path, report: Any) -> str:
    parts = [f"{eco} {human_size(n)} downloaded" for eco, n in report.downloaded.items()]
    parts += [f"{eco} {n} changed record{'' if n == 1 else 's'} fetched" for eco, n in report.records.items()]
    parts += [f"{eco} unchanged" for eco in report.unchanged]
    counts = dict(report.imported.counts) if report.imported else {}
    line = f"{path}: " + ", ".join(parts)
    if report.imported:
        line += (f"; {counts.get('added', 0)} added, {counts.get('updated', 0)} updated, "
                 f"{counts.get('unchanged', 0)} unchanged, {counts.get('skipped', 0)} skipped")
    return line


def _store_ecosystems() -> list[str]:
    """The OSV ecosystems of the images in the store (catalogued, not matched); a usage
    error naming the choices when the store holds no image with packages."""
    from hardbox.errors import UsageError
    from hardbox.image.source import parse_source
    from hardbox.image.store.store import Store
    from hardbox.scan.scanner import ScanOptions, scan
    from hardbox.scan.vulndb.update import archive_names

    store = Store.open()
    found: dict[str, None] = {}
    for image in store.images():
        source = parse_source(image.id)
        with source.open(store) as view:
            result = scan(view, None, ScanOptions(name=source.name, secrets=False))
        for name in archive_names(result.packages, (result.image.os or {}).get("osv_ecosystem")):
            found.setdefault(name)
    if not found:
        raise UsageError("no stored image has packages hardbox can look up: name the ecosystems",
                         hint="hardbox db update --ecosystem Debian --ecosystem PyPI (OSV names: "
                              "Debian, Ubuntu, Alpine, PyPI, npm, Go, Maven, crates.io, RubyGems, NuGet)")
    return list(found)


def _status(args: argparse.Namespace) -> int:
    from hardbox.scan.vulndb import open_db
    from hardbox.scan.vulndb.update import load_state

    with open_db(args.db) as index:
        status = index.status()
    fetched = load_state(Path(status["path"]))
    status["sources"] = [state.to_dict() for state in fetched.values()]
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
    sources = {s: f for s, f in _sources(status["imports"]).items()
               if s not in fetched and "/updates/" not in s}  # update staging: shown by URL
    if sources or fetched:
        print("sources:")
    for url, state in fetched.items():
        validator = f"ETag {state.etag}" if state.etag else (state.last_modified or "")
        print(f"  {url}  ({validator + ', ' if validator else ''}checked {state.checked})")
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
