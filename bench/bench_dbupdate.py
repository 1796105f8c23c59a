"""Benchmark: `hardbox db update` of a 100,000-advisory archive set served over HTTP on
loopback, against `hardbox db import` of the same files (issue 12's goals: the update adds
at most 10% over the import; a re-run with nothing changed takes under a second plus the
round trips).

The archive set is generated in osv.dev's bucket layout (osv.dev cannot be reached here):
``<Ecosystem>/all.zip`` and ``<Ecosystem>/modified_id.csv`` for Debian (60%), PyPI (25%) and
npm (15%), served by Python's own ``http.server`` (an independent server: Last-Modified and
If-Modified-Since, no ETag), so the conditional requests are answered by something hardbox
did not write. Rows, each a fresh CLI process (wall and the child's CPU time):

1. ``db import`` of the three archives into an empty database;
2. ``db update`` of the three ecosystems into another empty database (download + import);
3. ``db update`` again, nothing changed (one conditional request per ecosystem);
4. ``db update`` after 100 records changed upstream (the list, then 100 records).

    python bench/bench_dbupdate.py [--advisories N] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARDBOX = [sys.executable, "-m", "hardbox"]
SHARES = {"Debian": 0.60, "PyPI": 0.25, "npm": 0.15}
CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"


def _record(ecosystem: str, i: int, modified: str, rng: random.Random) -> dict[str, object]:
    if ecosystem == "Debian":
        name, eco = f"src{i % 3000:05d}", "Debian:12"
        fixed = f"{rng.randint(1, 3)}.{rng.randint(0, 20)}-{rng.randint(1, 5)}+deb12u{rng.randint(1, 4)}"
        rid = f"DEBIAN-CVE-2024-{i:06d}"
    else:
        name, eco = f"pkg{i % 4000:05d}", ecosystem
        fixed = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
        rid = f"{'PYSEC' if ecosystem == 'PyPI' else 'GHSA'}-2024-{i:06d}"
    return {
        "schema_version": "1.6.0", "id": rid, "modified": modified, "published": "2024-01-01T00:00:00Z",
        "aliases": [f"CVE-2024-{i:06d}"], "summary": f"generated advisory {i} for {name}",
        "details": "A generated record for the db update benchmark. " * 4,
        "severity": [{"type": "CVSS_V3", "score": CVSS}],
        "affected": [{"package": {"ecosystem": eco, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "references": [{"type": "ADVISORY", "url": f"https://example.invalid/{rid}"}],
    }


def _write_ecosystem(bucket: Path, ecosystem: str, records: list[dict[str, object]]) -> None:
    folder = bucket / ecosystem
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "all.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rec in records:
            archive.writestr(f"{rec['id']}.json", json.dumps(rec))
    newest_first = sorted(records, key=lambda r: (str(r["modified"]), str(r["id"])), reverse=True)
    (folder / "modified_id.csv").write_text("".join(f"{r['modified']},{r['id']}\n" for r in newest_first))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([*HARDBOX, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"hardbox {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--advisories", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep the archives and databases")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(12)
    work = args.keep or Path(tempfile.mkdtemp(prefix="hardbox-bench-dbupdate-"))
    bucket = work / "bucket"
    records: dict[str, list[dict[str, object]]] = {}
    for ecosystem, share in SHARES.items():
        records[ecosystem] = [_record(ecosystem, i, "2024-05-01T00:00:00Z", rng)
                              for i in range(int(args.advisories * share))]
        _write_ecosystem(bucket, ecosystem, records[ecosystem])
    size = sum((bucket / e / "all.zip").stat().st_size for e in SHARES)
    env = {**os.environ, "HARDBOX_ROOT": str(work / "store"), "PYTHONPATH": str(ROOT)}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(bucket)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    source = f"http://127.0.0.1:{port}"
    ecosystems = [arg for e in SHARES for arg in ("--ecosystem", e)]
    rows: list[tuple[str, float, float, str]] = []
    try:
        time.sleep(1.0)  # the server binds its port
        archives = [str(bucket / e / "all.zip") for e in SHARES]
        rows.append(("`db import` of the three all.zip", *_timed(["db", "import", *archives, "--db", str(work / "import.sqlite")], env)))
        update = ["db", "update", *ecosystems, "--source", source, "--db", str(work / "update.sqlite")]
        rows.append(("`db update` from the loopback bucket, empty database", *_timed(update, env)))
        rows.append(("`db update` again, nothing changed (3 conditional requests)", *_timed(update, env)))
        changed = records["Debian"][:100]
        for rec in changed:
            rec["modified"] = "2024-06-01T00:00:00Z"
            rec["summary"] = f"{rec['summary']} (revised)"
            (bucket / "Debian" / f"{rec['id']}.json").write_text(json.dumps(rec))
        _write_ecosystem(bucket, "Debian", records["Debian"])
        rows.append(("`db update` after 100 Debian records changed (list + 100 records)", *_timed(update, env)))
    finally:
        server.terminate()
        server.wait()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"advisories": args.advisories, "archive_bytes": size, "load": load,
                          "rows": [{"what": w, "wall": wall, "cpu": cpu, "output": out} for w, wall, cpu, out in rows]}))
        return 0
    base_wall, base_cpu = rows[0][1], rows[0][2]
    print(f"{args.advisories} advisories, {size / 1e6:.1f} MB of archives, load average {load:.1f}")
    print("| what | wall s | CPU s | wall vs import | CPU vs import |")
    print("|---|---:|---:|---:|---:|")
    for what, wall, cpu, _out in rows:
        print(f"| {what} | {wall:.2f} | {cpu:.2f} | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} |")
    for what, _wall, _cpu, out in rows:
        print(f"  {what}: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
