"""Runs every benchmark in bench/ one after another and prints their markdown tables.

Benchmarks compare hardbox with named peers on this machine (umoci, runc, trivy, Docker's
seccomp filter); their results are written down by hand in bench/RESULTS.md with the date
and the machine's load. They are never timed assertions in the test suite.

    python bench/run.py [NAME ...]     # e.g. python bench/run.py import minimize
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"\n## {name}\n", flush=True)
        status |= subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
