"""What the start-up benchmarks share (bench_run.py, bench_exec.py): hardbox installed the
way a user has it, the strict busybox image and its runc bundle, the timer, the rows that
split hardbox's time, and the rounds-and-medians table.

hardbox is installed as a user would have it: a fresh, isolated venv (``python -m venv``)
with ``pip install`` of this checkout, its dependencies from the package index, and timed
through that venv's ``hardbox`` script. (Not ``--system-site-packages``: a machine's own
site-packages can hold ``.pth`` files that run on every interpreter start — this machine's
imports certifi, 45 ms a start — which a user's venv would not.) The peer gets the same
hardening: its bundle is written by ``hardbox bundle --profile strict`` from the same stored
image (user namespace with the same id map, strict seccomp filter, no capabilities,
no_new_privs, read-only root, own network namespace, masked paths, cgroup limits).

Each round runs every command once, alternating, after warm-up rounds (seccomp and profile
caches filled, page cache warm). The table gives median and best wall time and the median
CPU time (user + system of the command and the children it waited for, from wait4); the
ratio to the peer is the median of the per-round ratios (a shared VM's speed drifts; a
round's commands see the same drift). Not a module of its own name ``bench_*``:
bench/run.py runs those.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers import imagebuild  # noqa: E402

IMAGE = "hardbox-bench-image"

# A command line, or one made per round (runc run needs a new container id each time).
Command = list[str] | Callable[[int], list[str]]


def options(doc: str | None, default_rounds: int) -> argparse.Namespace:
    """The start-up benches' command line (--rounds, --json, --before COMMIT), after checking
    that root, runc and umoci are there."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=default_rounds)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--before", metavar="COMMIT", help="also time this commit of hardbox")
    args = parser.parse_args()
    check_peers()
    return args


def check_peers() -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root (runc and hardbox both set up user namespaces and cgroups)")
    for tool in ("runc", "umoci"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")


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
    for line in err.splitlines():  # a command that times its own part (IN_PROCESS)
        if line.startswith(_INNER):
            inner_wall, inner_cpu = line.split()[1:]
            return float(inner_wall), float(inner_cpu)
    return wall, usage.ru_utime + usage.ru_stime


def make_venv(work: Path, commit: str | None = None) -> Path:
    """A fresh venv with this checkout (or ``commit`` of it) installed the way a user
    installs it; its bin dir."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # pip builds a local project in place (build/, *.egg-info): build a copy, not the checkout.
    source = work / "src"
    if commit is None:
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
            ".git", "build", "*.egg-info", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"))
    else:
        source.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)]
    subprocess.run(pip, check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import hardbox; print(hardbox.__file__)"],
        check=True, capture_output=True, text=True, cwd=work,
    ).stdout.strip()
    if not where.startswith(str(venv)):
        raise SystemExit(f"the venv imports hardbox from {where}, not from its own install")
    return venv / "bin"


@dataclass(frozen=True)
class Install:
    """hardbox in its own venv, with a store holding the busybox image as ``IMAGE``."""

    work: Path
    bindir: Path
    env: dict[str, str]

    @property
    def hardbox(self) -> list[str]:
        return [str(self.bindir / "hardbox")]

    @property
    def python(self) -> str:
        return str(self.bindir / "python")

    def strict_bundle(self, dest: Path, *argv: str) -> Path:
        """``hardbox bundle --profile strict`` of the image, for runc (no terminal)."""
        subprocess.run([*self.hardbox, "bundle", "--profile", "strict", IMAGE, str(dest), *argv],
                       env=self.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = json.loads((dest / "config.json").read_text())
        config["process"]["terminal"] = False
        (dest / "config.json").write_text(json.dumps(config))
        return dest


def install(work: Path, commit: str | None = None) -> Install:
    """hardbox (this checkout, or ``commit`` of it: ``--before``) in a venv under ``work``,
    with a store of its own holding the busybox image."""
    work.mkdir(exist_ok=True)
    os.chmod(work, 0o755)  # runc's user-namespace root must reach the bundle's rootfs
    bindir = make_venv(work, commit)
    # A user's shell does not set PYTHONDONTWRITEBYTECODE; the venv's .pyc files are used.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["HARDBOX_ROOT"] = str(work / "store")
    setup = Install(work, bindir, env)
    layout = imagebuild.busybox_image(work / "img")
    subprocess.run([*setup.hardbox, "image", "import", layout.ref, "--tag", IMAGE], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return setup


# Some names -X importtime lists were tried and failed (``nt`` on Linux): skip those.
IMPORT_ALL = """
import gc, importlib
gc.disable()  # as hardbox's console script does while a command loads
for name in {!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
"""

# hardbox's own work: main() of the CLI, timed inside a process that has already loaded
# every module the command loads — start-up and imports excluded, everything else in
# (parsing, the cached profile, the store, the container work to the end).
_INNER = "hardbox-bench-inner"
_IN_PROCESS = IMPORT_ALL + """
import resource, sys, time
from hardbox.cli.main import main
def used():  # user and system CPU of this process and the children it reaped, in µs steps
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
t0, c0 = time.perf_counter(), used()
status = main({!r})
t1, c1 = time.perf_counter(), used()
cpu = c1 - c0
sys.stderr.write(f"{inner} {{t1 - t0}} {{cpu}}\\n")
sys.exit(status)
"""


def modules_loaded(setup: Install, args: list[str]) -> list[str]:
    """The modules a real ``hardbox ARGS`` imports, in import order, from ``-X importtime``."""
    # cwd: `-m` puts it first on sys.path, and from the checkout it would import the
    # checkout's hardbox, not the venv's (another install: a profile-cache miss).
    proc = subprocess.run([setup.python, "-X", "importtime", "-m", "hardbox", *args],
                          env=setup.env, capture_output=True, text=True, check=True, cwd=setup.bindir)
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line]
    # Only top-level names (importing a package's module imports the package too), and not
    # hardbox.__main__, which would run the CLI.
    wanted = (n for n in names if n not in ("imported package", "hardbox.__main__")
              and ("." not in n or n.startswith("hardbox.")))
    return list(dict.fromkeys(wanted))


def split_rows(setup: Install, args: list[str], what: str) -> dict[str, Command]:
    """The rows that split hardbox's time: the interpreter alone, the standard-library
    modules the command loads, all of its modules, and its own work in a loaded process."""
    imports = modules_loaded(setup, args)
    stdlib = [m for m in imports if m in sys.stdlib_module_names or m.startswith("_")]
    py = setup.python
    return {
        "`python -c pass` (venv; floor under hardbox)": [py, "-c", "pass"],
        f"`python -c 'import …'` ({len(stdlib)} standard-library modules of those)":
            [py, "-c", IMPORT_ALL.format(stdlib)],
        f"`python -c 'import …'` (all {len(imports)} modules `{what}` loads; no container)":
            [py, "-c", IMPORT_ALL.format(imports)],
        f"hardbox's own work: `main({what} …)` timed in a process that loaded those modules":
            [py, "-c", _IN_PROCESS.format(imports, args, inner=_INNER)],
    }


def measure(commands: dict[str, Command], env: dict[str, str], rounds: int, warmup: int = 3) -> dict[str, object]:
    """Every command once a round, alternating; the first two are hardbox and its peer."""
    walls: dict[str, list[float]] = {k: [] for k in commands}
    cpus: dict[str, list[float]] = {k: [] for k in commands}
    for i in range(rounds + warmup):
        for name, cmd in commands.items():
            wall, cpu = timed(cmd(i) if callable(cmd) else cmd, env)
            if i >= warmup:
                walls[name].append(wall)
                cpus[name].append(cpu)
    hardbox_name, peer_name = list(commands)[:2]
    return {
        "rounds": rounds,
        "median_wall_seconds": {k: statistics.median(v) for k, v in walls.items()},
        "best_wall_seconds": {k: min(v) for k, v in walls.items()},
        "median_cpu_seconds": {k: statistics.median(v) for k, v in cpus.items()},
        "load_average": os.getloadavg(),
        "ratio_hardbox_to_peer": statistics.median(
            h / r for h, r in zip(walls[hardbox_name], walls[peer_name], strict=True)),
    }


def print_report(title: str, report: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    med = report["median_wall_seconds"]
    best = report["best_wall_seconds"]
    cpu = report["median_cpu_seconds"]
    load = report["load_average"]
    assert isinstance(med, dict) and isinstance(best, dict) and isinstance(cpu, dict) and isinstance(load, tuple)
    peer = list(med)[1]
    print(f"{title}, {report['rounds']} rounds, load {load[0]:.1f} (1 min)\n")
    print("| command | median wall ms | best wall ms | median CPU ms | wall vs peer |")
    print("|---|---:|---:|---:|---:|")
    for name in med:
        print(f"| {name} | {med[name] * 1000:.1f} | {best[name] * 1000:.1f} | "
              f"{cpu[name] * 1000:.1f} | {med[name] / med[peer]:.2f} |")
    print(f"\nhardbox / peer, median of per-round ratios: {report['ratio_hardbox_to_peer']:.2f}")
