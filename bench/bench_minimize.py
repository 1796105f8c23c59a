"""Benchmark: ``hardbox minimize`` on the images its tests use — size before/after and time.

Images, built from real parts as the tests build them: busybox-static (one layer), the
Debian minbase (debootstrap, cached) with a bash/coreutils probe and with a perl probe that
loads a module at run time. Every result must pass its probes (minimize verifies them; a
failing probe fails the benchmark). Targets (issue 7): Debian minbase + bash/coreutils
shrinks at least 10x; probe output identical in every case. Output: a markdown table on
stdout. Needs root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers import imagebuild  # noqa: E402

CASES = (
    ("busybox", "bb", ["sh -c 'ls /etc; id -u'"]),
    ("debian minbase, bash+coreutils", "deb",
     ["bash -c 'ls / > /dev/null; echo hello | tr a-z A-Z; sort /etc/shells | head -n 1; wc -l < /etc/passwd'"]),
    ("debian minbase, bash+coreutils+getent+perl", "deb",
     ["bash -c 'ls / > /dev/null; echo hello | tr a-z A-Z'", "getent passwd root",
      "perl -MPOSIX -e 'print POSIX::floor(2.7)'"]),
)


def hardbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardbox", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, check=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, HARDBOX_ROOT=str(work / "store"))
        bb = imagebuild.busybox_image(work / "bb")
        deb = imagebuild.OciImage(work / "deb" / "layout", "bookworm")
        deb.add_rootfs(imagebuild.debian_minbase_rootfs(), "debootstrap --variant=minbase bookworm")
        deb.configure("--config.cmd=/bin/bash")
        hardbox(env, "image", "import", f"oci:{bb.ref}", "--tag", "bb:latest")
        hardbox(env, "image", "import", f"oci:{deb.ref}", "--tag", "deb:latest")
        print("| image | probes | before | after | shrink | files before → after | packages removed | minimize time |")
        print("|---|---|---|---|---|---|---|---|")
        for index, (label, image, probes) in enumerate(CASES):
            args = [a for p in probes for a in ("--probe", p)]
            start = time.perf_counter()
            out = hardbox(env, "minimize", image, "--tag", f"{image}:min{index}", *args, "--json")
            elapsed = time.perf_counter() - start
            data = json.loads(out.stdout)
            assert data["verified"], data["probes"]
            before, after = data["source"]["size"], data["result"]["size"]
            print(f"| {label} | {len(probes)} | {before / 1e6:.1f} MB | {after / 1e6:.2f} MB | "
                  f"{before / after:.1f}x | {data['source']['files']} → {data['result']['files']} | "
                  f"{len(data['packages']['removed'])} | {elapsed:.1f} s |")


if __name__ == "__main__":
    main()
