"""Benchmark: match 100 packages against a 100,000-advisory index (issue 4's goal: under
one second once the index is built).

The feed is generated in OSV's all.zip layout (osv.dev cannot be reached here): 100,000
records over 5,000 Debian:12 source packages, each with an ECOSYSTEM range around a
realistic dpkg version, a CVSS v3 vector, aliases and references. The bench imports it
through the real importer (index build time), then matches 100 installed packages, of
which half are affected, through the real matcher (cold: a fresh connection, nothing
cached), and prints both times (wall and CPU: on a shared, loaded machine the wall time
of the match says more about the neighbours than about hardbox).

    python bench/bench_match.py [--advisories N] [--packages N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardbox.scan.catalog.os_release import OSRelease
from hardbox.scan.package import Package, make_purl
from hardbox.scan.vulndb import match, open_db
from hardbox.scan.vulndb.importer import import_paths
from hardbox.scan.vulndb.index import VulnIndex

CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"


def _feed(path: Path, advisories: int, sources: int, rng: random.Random) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(advisories):
            source = f"src{i % sources:05d}"
            fixed = f"{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-{rng.randint(1, 5)}+deb12u{rng.randint(1, 4)}"
            rec = {
                "id": f"DEBIAN-CVE-2024-{i:06d}",
                "modified": "2024-05-01T00:00:00Z",
                "published": "2024-01-01T00:00:00Z",
                "aliases": [f"CVE-2024-{i:06d}"],
                "summary": f"generated advisory {i} for {source}",
                "details": "A generated record for the matching benchmark. " * 4,
                "severity": [{"type": "CVSS_V3", "score": CVSS}],
                "affected": [{
                    "package": {"ecosystem": "Debian:12", "name": source, "purl": f"pkg:deb/debian/{source}"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                }],
                "references": [{"type": "ADVISORY", "url": f"https://security-tracker.debian.org/tracker/CVE-2024-{i:06d}"}],
            }
            archive.writestr(f"{rec['id']}.json", json.dumps(rec))


def _packages(count: int, sources: int, rng: random.Random) -> list[Package]:
    out = []
    for n in range(count):
        source = f"src{rng.randrange(sources):05d}"
        version = f"{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-{rng.randint(1, 5)}"
        out.append(Package(
            name=f"lib{source}-{n}", version=version, ecosystem="deb",
            purl=make_purl("deb", f"lib{source}-{n}", version, namespace="debian"),
            cataloger="bench", source_name=source, source_version=version,
        ))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--advisories", type=int, default=100_000)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep the feed and index")
    args = parser.parse_args()
    rng = random.Random(1)
    sources = max(1, args.advisories // 20)
    work = args.keep or Path(tempfile.mkdtemp(prefix="hardbox-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    feed, db = work / "all.zip", work / "osv.sqlite"
    db.unlink(missing_ok=True)

    started = time.perf_counter()
    _feed(feed, args.advisories, sources, rng)
    generated = time.perf_counter() - started

    started = time.perf_counter()
    with VulnIndex.open(db, create=True) as index:
        report = import_paths([feed], index)
    built = time.perf_counter() - started

    packages = _packages(args.packages, sources, rng)
    os_release = OSRelease(id="debian", version_id="12")
    started, cpu = time.perf_counter(), time.process_time()
    with open_db(db) as index:
        result = match(packages, os_release, index)
    matched, matched_cpu = time.perf_counter() - started, time.process_time() - cpu

    print(f"feed: {args.advisories} advisories over {sources} source packages "
          f"({feed.stat().st_size / 1e6:.1f} MB zip, generated in {generated:.1f}s)")
    print(f"index build (hardbox db import): {built:.1f}s, {report.counts['added']} added, "
          f"{db.stat().st_size / 1e6:.1f} MB")
    print(f"match {len(packages)} packages: {matched * 1000:.0f} ms wall, {matched_cpu * 1000:.0f} ms CPU, "
          f"{len(result.findings)} findings, {len(result.errors)} errors")
    print("goal (< 1 s once built):", "met" if matched < 1.0 else "NOT met")
    return 0 if matched < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
