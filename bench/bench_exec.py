"""`hardbox exec` against `runc exec`: /bin/true in a running busybox container under strict.

Same set-up as bench_run.py: hardbox pip-installed into a fresh, isolated venv (timed
through its ``hardbox`` script); one container each, started once and left running: a
`hardbox run -d --profile strict` and a `runc run -d` of the bundle `hardbox bundle
--profile strict` writes from the same stored image (user namespace with the same id map,
strict seccomp, no capabilities, no_new_privs, read-only root, own network namespace).
Each round execs /bin/true once into each, alternating, after warm-up rounds. Median and
best wall time, median CPU time (user + system of the command and its reaped children),
and the median of the per-round ratios to runc. A fourth row times `main(exec …)` inside a
process that already loaded every module an exec loads: hardbox's own work.

Goal (issue 14): `hardbox exec` <= 1.5x `runc exec`. Needs root, runc and umoci.

    python bench/bench_exec.py [--rounds 20] [--json]
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_run  # noqa: E402  (the venv, the timer, the module list: one implementation)
from bench_run import imagebuild  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (runc and hardbox both set up user namespaces and cgroups)")
    for tool in ("runc", "umoci"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    runc_id = f"hardbox-bench-exec-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="hardbox-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        bindir = bench_run.make_venv(work)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["HARDBOX_ROOT"] = str(work / "store")
        hb = [str(bindir / "hardbox")]
        layout = imagebuild.busybox_image(work / "img")
        subprocess.run([*hb, "image", "import", layout.ref, "--tag", "hardbox-bench-image"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        bundle = work / "bundle"
        subprocess.run([*hb, "bundle", "--profile", "strict", "hardbox-bench-image", str(bundle), "sleep", "600"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["terminal"] = False
        (bundle / "config.json").write_text(json.dumps(config))
        cid = subprocess.run([*hb, "run", "-d", "--profile", "strict", "hardbox-bench-image", "sleep", "600"],
                             env=env, check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(["runc", "run", "-d", "--bundle", str(bundle), runc_id], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            exec_args = ["exec", cid, "/bin/true"]
            imports = bench_run.run_path_modules(bindir, exec_args, env)
            commands = {
                "`hardbox exec` into a strict container (venv)": [*hb, *exec_args],
                "`runc exec` (bundle from `hardbox bundle --profile strict`)": ["runc", "exec", runc_id, "/bin/true"],
                "`python -c pass` (venv; floor under hardbox)": [str(bindir / "python"), "-c", "pass"],
                "hardbox's own work: `main(exec …)` timed in a process that loaded its modules":
                    [str(bindir / "python"), "-c",
                     bench_run._IN_PROCESS.format(imports, exec_args, inner=bench_run._INNER)],
            }
            walls: dict[str, list[float]] = {k: [] for k in commands}
            cpus: dict[str, list[float]] = {k: [] for k in commands}
            warmup = 3
            for i in range(args.rounds + warmup):
                for name, cmd in commands.items():
                    wall, cpu = bench_run.timed(cmd, env)
                    if i >= warmup:
                        walls[name].append(wall)
                        cpus[name].append(cpu)
        finally:
            subprocess.run(["runc", "delete", "-f", runc_id], check=False)
            subprocess.run([*hb, "rm", "-f", cid], env=env, check=False, stdout=subprocess.DEVNULL)
    names = list(commands)
    hardbox_name, runc_name = names[0], names[1]
    med = {k: statistics.median(v) for k, v in walls.items()}
    report = {
        "rounds": args.rounds,
        "median_wall_seconds": med,
        "best_wall_seconds": {k: min(v) for k, v in walls.items()},
        "median_cpu_seconds": {k: statistics.median(v) for k, v in cpus.items()},
        "load_average": os.getloadavg(),
        "ratio_hardbox_to_runc": statistics.median(
            h / r for h, r in zip(walls[hardbox_name], walls[runc_name], strict=True)),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"/bin/true exec'd into a running strict busybox container, {args.rounds} rounds, load "
          f"{report['load_average'][0]:.1f} (1 min)\n")
    print("| command | median wall ms | best wall ms | median CPU ms | wall vs runc |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {med[name] * 1000:.1f} | {report['best_wall_seconds'][name] * 1000:.1f} | "
              f"{report['median_cpu_seconds'][name] * 1000:.1f} | {med[name] / med[runc_name]:.2f} |")
    print(f"\nhardbox / runc, median of per-round ratios: {report['ratio_hardbox_to_runc']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
