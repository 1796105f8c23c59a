"""What the image benchmarks share (bench_import.py, bench_pull.py): their options, the Debian
minbase image both time, fresh targets under one work folder, and the timer with its median
of runs. Not a module named ``bench_*``: bench/run.py runs those.

The image is the one the tests use (tests/helpers/imagebuild: debootstrap minbase, cached
between runs, one layer by umoci), so a benchmark and a test read the same bytes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# tests/ for the image builders; the checkout itself for the library-call timings.
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from helpers import imagebuild  # noqa: E402


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system seconds of the child: steadier than wall on a busy machine


def timed(cmd: list[str], env: dict[str, str] | None = None) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def median(timings: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in timings),
                  statistics.median(t.cpu for t in timings))


def median_of(runs: int, make_cmd: Callable[[int], tuple[list[str], dict[str, str] | None]]) -> Timing:
    """The median of ``runs`` runs, run ``i`` being ``make_cmd(i)``: (command, environment)."""
    return median([timed(*make_cmd(i)) for i in range(runs)])


def options(doc: str) -> argparse.Namespace:
    """--runs and --workdir, as every image benchmark takes them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to build the image and run (default: a temp dir)")
    return parser.parse_args()


def debian_layout(work: Path) -> imagebuild.OciImage:
    """The Debian 12 minbase image as a one-layer OCI layout at ``work/layout``."""
    image = imagebuild.OciImage(work / "layout", "bookworm")
    image.add_rootfs(imagebuild.debian_minbase_rootfs(), "debootstrap --variant=minbase bookworm")
    return image


@dataclass(frozen=True)
class Scratch:
    """Targets under one work folder, each emptied before a run writes it."""

    work: Path

    def fresh(self, name: str) -> Path:
        target = self.work / name
        shutil.rmtree(target, ignore_errors=True)
        return target

    @staticmethod
    def store_env(root: Path) -> dict[str, str]:
        """The environment of a hardbox command whose store is ``root``."""
        return dict(os.environ, HARDBOX_ROOT=str(root))
