"""Start-to-exit of /bin/true in busybox: `hardbox run --profile strict` against `runc run`.

hardbox is installed as a user would have it: a fresh, isolated venv (``python -m venv``)
with ``pip install`` of this checkout, its dependencies from the package index, and timed
through that venv's ``hardbox`` script. (Not ``--system-site-packages``: a machine's own
site-packages can hold ``.pth`` files that run on every interpreter start — this machine's
imports certifi, 45 ms a start — which a user's venv would not.) Both sides get the same
hardening: the runc bundle is written by ``hardbox bundle --profile strict`` from the same
stored image (user namespace with the same id map, strict seccomp filter, no capabilities,
no_new_privs, read-only root, new network namespace, masked paths, cgroup limits). Each
round runs each command once, alternating, after warm-up runs (seccomp and profile caches
filled, page cache warm); the table gives median and best wall time and the median CPU
time (user + system of the command and the children it waited for, from wait4), and the
ratio to runc is the median of the per-round ratios (a shared VM's speed drifts; a round's
commands see the same drift).

Three more rows split hardbox's time: ``python -c pass`` in the same venv (the interpreter,
the floor under anything written in Python), ``python -c 'import ...'`` of the standard
library modules a run loads (argparse, pathlib, dataclasses, json, socket, ctypes, ...: the
floor under a Python runtime built from the standard library), and of exactly all the
modules a run loads (read from ``-X importtime`` of a real run): hardbox's start-up before
any container work.

The per-syscall cost of strict's filter against Docker's default is measured by
``bench/bench_seccomp.py`` (not repeated here). Needs root, runc and umoci.

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

from helpers import imagebuild  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd``; exits the bench if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err}")
    for line in err.splitlines():  # a command that times its own part (_IN_PROCESS)
        if line.startswith(_INNER):
            inner_wall, inner_cpu = line.split()[1:]
            return float(inner_wall), float(inner_cpu)
    return wall, usage.ru_utime + usage.ru_stime


def make_venv(work: Path) -> Path:
    """A fresh venv with this checkout installed the way a user installs it; its bin dir."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # pip builds a local project in place (build/, *.egg-info): build a copy, not the checkout.
    source = work / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)]
    subprocess.run(pip, check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import hardbox; print(hardbox.__file__)"],
        check=True, capture_output=True, text=True, cwd=work,
    ).stdout.strip()
    if not where.startswith(str(venv)):
        raise SystemExit(f"the venv imports hardbox from {where}, not from its own install")
    return venv / "bin"


# Some names -X importtime lists were tried and failed (``nt`` on Linux): skip those.
_IMPORT_ALL = """
import gc, importlib
gc.disable()  # as hardbox's console script does while a run loads
for name in {!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
"""


# hardbox's own work for a run: main() of the CLI, timed inside a process that has already
# loaded every module a run loads — start-up and imports excluded, everything else in
# (parsing, the cached profile, the store, the container from state dir to clean-up).
_INNER = "hardbox-bench-inner"
_IN_PROCESS = _IMPORT_ALL + """
import os, sys, time
from hardbox.cli.main import main
t0, c0 = time.perf_counter(), os.times()
status = main({!r})
t1, c1 = time.perf_counter(), os.times()
cpu = sum(c1[:4]) - sum(c0[:4])  # user and system, this process and the children it reaped
sys.stderr.write(f"{inner} {{t1 - t0}} {{cpu}}\\n")
sys.exit(status)
"""


def run_path_modules(bindir: Path, run_args: list[str], env: dict[str, str]) -> list[str]:
    """The modules a real `hardbox run` imports, in import order, from ``-X importtime``."""
    # cwd: `-m` puts it first on sys.path, and from the checkout it would import the
    # checkout's hardbox, not the venv's (another install: a profile-cache miss).
    proc = subprocess.run([str(bindir / "python"), "-X", "importtime", "-m", "hardbox", *run_args],
                          env=env, capture_output=True, text=True, check=True, cwd=bindir)
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line]
    # Only top-level names (importing a package's module imports the package too), and not
    # hardbox.__main__, which would run the CLI.
    wanted = (n for n in names if n not in ("imported package", "hardbox.__main__")
              and ("." not in n or n.startswith("hardbox.")))
    return list(dict.fromkeys(wanted))


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
    with tempfile.TemporaryDirectory(prefix="hardbox-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # runc's user-namespace root must reach the bundle's rootfs
        bindir = make_venv(work)
        # A user's shell does not set PYTHONDONTWRITEBYTECODE; the venv's .pyc files are used.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["HARDBOX_ROOT"] = str(work / "store")
        hb = [str(bindir / "hardbox")]
        layout = imagebuild.busybox_image(work / "img")
        subprocess.run([*hb, "image", "import", layout.ref, "--tag", "hardbox-bench-image"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        bundle = work / "bundle"
        subprocess.run([*hb, "bundle", "--profile", "strict", "hardbox-bench-image", str(bundle), "/bin/true"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["terminal"] = False
        (bundle / "config.json").write_text(json.dumps(config))

        run_args = ["run", "--rm", "--profile", "strict", "hardbox-bench-image", "/bin/true"]
        subprocess.run([*hb, *run_args], env=env, check=True)  # fills the caches: a warm run's imports
        imports = run_path_modules(bindir, run_args, env)
        stdlib = [m for m in imports if m in sys.stdlib_module_names or m.startswith("_")]
        commands = {
            "`hardbox run --rm --profile strict` (venv)":
                [*hb, *run_args],
            "`runc run` (bundle from `hardbox bundle --profile strict`)": ["runc", "run", "--bundle", str(bundle)],
            "`python -c pass` (venv; floor under hardbox)": [str(bindir / "python"), "-c", "pass"],
            f"`python -c 'import …'` ({len(stdlib)} standard-library modules of those)":
                [str(bindir / "python"), "-c", _IMPORT_ALL.format(stdlib)],
            f"`python -c 'import …'` (all {len(imports)} modules a run loads; no container)":
                [str(bindir / "python"), "-c", _IMPORT_ALL.format(imports)],
            "hardbox's own work: `main(run …)` timed in a process that loaded those modules":
                [str(bindir / "python"), "-c", _IN_PROCESS.format(imports, run_args, inner=_INNER)],
        }
        walls: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        warmup = 3  # fills the seccomp and profile caches and the page cache
        for i in range(args.rounds + warmup):
            for name, cmd in commands.items():
                if cmd[0] == "runc":
                    cmd = [*cmd, f"hardbox-bench-{os.getpid()}-{i}"]
                wall, cpu = timed(cmd, env)
                if i >= warmup:
                    walls[name].append(wall)
                    cpus[name].append(cpu)
    names = list(commands)
    hardbox_name, runc_name = names[0], names[1]
    report = {
        "rounds": args.rounds,
        "median_wall_seconds": {k: statistics.median(v) for k, v in walls.items()},
        "best_wall_seconds": {k: min(v) for k, v in walls.items()},
        "median_cpu_seconds": {k: statistics.median(v) for k, v in cpus.items()},
        "load_average": os.getloadavg(),
    }
    med = report["median_wall_seconds"]
    report["ratio_hardbox_to_runc"] = statistics.median(
        h / r for h, r in zip(walls[hardbox_name], walls[runc_name], strict=True))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Start-to-exit of /bin/true in busybox, {args.rounds} rounds, load "
          f"{report['load_average'][0]:.1f} (1 min)\n")
    print("| command | median wall ms | best wall ms | median CPU ms | wall vs runc |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {med[name] * 1000:.1f} | {report['best_wall_seconds'][name] * 1000:.1f} | "
              f"{report['median_cpu_seconds'][name] * 1000:.1f} | {med[name] / med[runc_name]:.2f} |")
    print(f"\nhardbox / runc, median of per-round ratios: {report['ratio_hardbox_to_runc']:.2f}")
    seccomp = Path(__file__).with_name("bench_seccomp.py")
    if seccomp.is_file():
        print(f"\nPer-syscall cost of strict's seccomp filter vs Docker's default: "
              f"`python {seccomp.relative_to(REPO)}`.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
