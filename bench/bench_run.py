"""Start-to-exit of /bin/true in busybox: `hardbox run --profile strict` against `runc run`.

Both sides get the same hardening: the runc bundle is written by `hardbox bundle --profile
strict` from the same stored image (user namespace with the same id map, strict seccomp
filter, no capabilities, no_new_privs, read-only root, new network namespace, masked paths,
cgroup limits). Each round runs both once, alternating, after a warm-up; medians are
reported with the Python interpreter's own start (`python -c pass`) as the floor under
hardbox. Needs root, runc, umoci.

    python bench/bench_run.py [--rounds 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import imagebuild  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for tool in ("runc", "umoci"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    with tempfile.TemporaryDirectory(prefix="hardbox-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # runc's user-namespace root must reach the bundle's rootfs
        env = {**os.environ, "HARDBOX_ROOT": str(work / "store")}
        hb = [sys.executable, "-m", "hardbox"]
        layout = imagebuild.busybox_image(work / "img")
        subprocess.run([*hb, "image", "import", layout.ref, "--tag", "hardbox-bench-image"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        bundle = work / "bundle"
        subprocess.run([*hb, "bundle", "--profile", "strict", "hardbox-bench-image", str(bundle), "/bin/true"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["terminal"] = False
        (bundle / "config.json").write_text(json.dumps(config))

        hardbox_cmd = [*hb, "run", "--rm", "--profile", "strict", "hardbox-bench-image", "/bin/true"]
        samples: dict[str, list[float]] = {"hardbox": [], "runc": [], "python -c pass": []}
        for i in range(args.rounds + 2):
            runc_cmd = ["runc", "run", "--bundle", str(bundle), f"hardbox-bench-{os.getpid()}-{i}"]
            results = {
                "hardbox": timed(hardbox_cmd, env),
                "runc": timed(runc_cmd, env),
                "python -c pass": timed([sys.executable, "-c", "pass"], env),
            }
            if i >= 2:  # the first rounds warm caches (seccomp BPF, page cache, .pyc)
                for k, v in results.items():
                    samples[k].append(v)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    report = {
        "rounds": args.rounds,
        "median_seconds": medians,
        "ratio_hardbox_to_runc": medians["hardbox"] / medians["runc"],
        "load_average": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in medians.items():
            print(f"{k:16} {v * 1000:8.1f} ms")
        print(f"hardbox / runc   {report['ratio_hardbox_to_runc']:8.2f}x  (load {report['load_average'][0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
