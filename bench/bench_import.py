"""Benchmark: importing (verify + unpack) the Debian minbase image, against ``umoci unpack``.

Builds the image the tests use (debootstrap minbase, cached, turned into a one-layer OCI
layout by umoci; a docker archive of it by skopeo), then times, on this machine:

* ``umoci unpack`` of the layout (the peer: verify + unpack, nothing kept),
* ``hardbox image import`` of the layout into an empty store (verify + store blob + unpack),
* the same of the docker archive (plain-tar layer),
* a re-import of the layout into the store that already holds it.

Each is a fresh process, run ``--runs`` times, median reported, page cache warm (the input
is read once before timing). Output: a markdown table on stdout. Needs root (debootstrap).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import Scratch, debian_layout, median_of, options


def _library_reimport(layout: Path, root: Path) -> float:
    """The store's own cost of a re-import, without Python start-up and CLI imports."""
    from hardbox.image.store.importer import import_path
    from hardbox.image.store.store import Store

    start = time.perf_counter()
    import_path(Store.open(root), layout)
    return time.perf_counter() - start


def main() -> None:
    args = options(__doc__)

    work = Path(tempfile.mkdtemp(prefix="hardbox-bench-", dir=args.workdir))
    try:
        image = debian_layout(work)
        archive = image.docker_archive(work / "debian.tar", "debian:bookworm")
        for path in (work / "layout").rglob("*"):
            if path.is_file():
                path.read_bytes()  # warm the page cache for every contender alike
        archive.read_bytes()
        hardbox = [sys.executable, "-m", "hardbox", "image", "import"]
        scratch = Scratch(work)

        umoci = median_of(args.runs, lambda i: (
            ["umoci", "unpack", "--image", image.ref, str(scratch.fresh(f"bundle-{i}"))], None))
        layout = median_of(args.runs, lambda i: (
            [*hardbox, str(work / "layout")], scratch.store_env(scratch.fresh(f"store-{i}"))))
        docker = median_of(args.runs, lambda i: (
            [*hardbox, str(archive)], scratch.store_env(scratch.fresh(f"docker-store-{i}"))))
        # store-0 holds the layout's image already: this is the re-import.
        reimport = median_of(args.runs, lambda i: (
            [*hardbox, str(work / "layout")], scratch.store_env(work / "store-0")))
        library = statistics.median(_library_reimport(work / "layout", work / "store-0")
                                    for _ in range(args.runs))
        blob_mb = sum(p.stat().st_size for p in (work / "store-0" / "blobs").rglob("*")) / 1e6

        print(f"Debian 12 minbase, one layer ({blob_mb:.0f} MB gzip blob), {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}, median of {args.runs} runs\n")
        print("| what | wall s | CPU s (user+sys) | wall vs umoci | CPU vs umoci |")
        print("|---|---:|---:|---:|---:|")
        rows = [
            ("umoci unpack (OCI layout, gzip layer)", umoci),
            ("hardbox image import (OCI layout, gzip layer)", layout),
            ("hardbox image import (docker archive, plain layer)", docker),
            ("hardbox image import again (already stored)", reimport),
        ]
        for what, t in rows:
            print(f"| {what} | {t.wall:.2f} | {t.cpu:.2f} | {t.wall / umoci.wall:.2f} | "
                  f"{t.cpu / umoci.cpu:.2f} |")
        print(f"| re-import as a library call (`Store.import_path`, no interpreter start) | "
              f"{library:.3f} | | {library / umoci.wall:.3f} | |")
        print(f"\nRe-import: {reimport.wall / layout.wall:.1%} of the first import's wall time "
              f"as a command, {library / layout.wall:.1%} as a library call.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
