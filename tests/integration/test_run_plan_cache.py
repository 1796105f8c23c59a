"""The run plan cache (runtime/plan_cache.py): a repeated `hardbox run` takes the resolved
profile spec and image from the cache, and anything that could change them is a miss.

Hit or miss is read structurally from the modules a real run imports (``-X importtime``): the
slow path loads the profile model and the image store, a hit neither. The containers are
real, and one started from a cached plan must be hardened exactly as one started without.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.hbrun import RunStore, make_store

import hardbox

pytestmark = pytest.mark.root

# Loaded by resolving a plan the slow way; never by a run whose plan is cached.
RESOLVING = ("hardbox.runtime.profile.model", "hardbox.runtime.profile.load", "hardbox.runtime.seccomp",
             "hardbox.image.store.store", "hardbox.image.formats.config", "hardbox.image.reference")
# Nor, on a hit, these libraries (the profile's YAML and schema, OpenSSL for digests, and
# dataclasses with inspect: the run path's records are NamedTuples, bench/RESULTS.md), nor
# (STDLIB_UNUSED) the standard library a container's start needs none of: the state and the plan entry are
# read and written by hardbox.jsontext (no json, whose decoder loads re), paths are strings
# (no pathlib), --rm removes the state by runtime/rmtree (no shutil, bz2, lzma), signals go
# through _signal, the fds through int.to_bytes (no array, which loads collections.abc), the
# command line through cli/quickparse (no argparse), and no record needs typing.
HEAVY = ("yaml", "jsonschema", "hashlib", "_hashlib", "dataclasses", "inspect")
STDLIB_UNUSED = ("json", "json.decoder", "re", "enum", "typing", "functools", "collections", "contextlib",
                 "pathlib", "urllib.parse", "fnmatch", "shutil", "bz2", "lzma", "zlib", "signal", "array",
                 "argparse", "gettext", "locale", "ipaddress", "threading", "socket", "selectors", "importlib",
                 "tempfile", "warnings")
STATUS = "grep -E '^(Seccomp|NoNewPrivs|Cap[A-Za-z]+):' /proc/self/status; cat /proc/self/uid_map /proc/self/gid_map"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, busybox_layout: imagebuild.OciImage) -> RunStore:
    return make_store(tmp_path_factory.mktemp("plans") / "store", busybox_layout.ref)


def run(store: RunStore, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """A real `hardbox run ARGS`; its result and the modules it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "hardbox", "run", *args],
                          capture_output=True, text=True, env=store.env(), timeout=60)
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert proc.returncode == 0, proc.stderr
    assert "hardbox.runtime.container" in modules  # the probe saw the run path
    return proc, modules


def run_bare(store: RunStore, *args: str) -> set[str]:
    """The modules `hardbox run ARGS` imports itself: started as the `hardbox` script starts
    it (not `-m`, whose runpy imports importlib.util, contextlib and functools first), with
    ``-S`` (the development venv's editable-install finder loads pathlib and re at start-up)
    and the source on PYTHONPATH, so only the standard library and hardbox are reachable."""
    env = {**store.env(), "PYTHONPATH": str(Path(hardbox.__file__).parent.parent)}
    proc = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", "from hardbox.cli.main import run; run()",
                           "run", *args], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "hardbox.runtime.container" in modules and "hardbox.cli.main" in modules  # the probe saw the run
    return modules


def was_hit(modules: set[str]) -> bool:
    resolved = {m for m in RESOLVING if m in modules}
    assert resolved in (set(), set(RESOLVING)), sorted(resolved)  # all or nothing
    return not resolved


def test_a_repeated_run_is_a_hit_and_loads_no_model(store: RunStore) -> None:
    args = ("--rm", "--profile", "strict", "bbtest", "/bin/true")
    shutil.rmtree(store.root / "cache" / "plans", ignore_errors=True)
    _, first = run(store, *args)
    _, second = run(store, *args)
    _, third = run(store, *args)
    assert not was_hit(first) and was_hit(second) and was_hit(third)
    assert sorted(m for m in HEAVY if m in second) == []
    assert not [m for m in second if m.startswith(("hardbox.image.store", "hardbox.image.formats"))]
    bare = run_bare(store, *args)
    assert was_hit(bare)
    assert sorted(m for m in (*HEAVY, *STDLIB_UNUSED) if m in bare) == []


def test_a_changed_profile_file_is_a_miss(store: RunStore, tmp_path: Path) -> None:
    prof = tmp_path / "mine.yaml"
    prof.write_text("extends: strict\ndescription: one\n")
    args = ("--rm", "--profile", str(prof), "bbtest", "sh", "-c", "ulimit -n")
    assert not was_hit(run(store, *args)[1])
    assert was_hit(run(store, *args)[1])
    prof.write_text("extends: strict\nrlimits:\n  RLIMIT_NOFILE: {soft: 77, hard: 77}\n")
    proc, modules = run(store, *args)
    assert not was_hit(modules) and proc.stdout == "77\n"  # the new file, not the cached plan
    proc, modules = run(store, *args)
    assert was_hit(modules) and proc.stdout == "77\n"
    prof.write_text("extends: strict\nnetwork: sideways\n")  # invalid now: validated, refused
    bad = store.hardbox("run", *args)
    assert bad.returncode == 125 and "mine.yaml:2: network" in bad.stderr


def test_a_file_changed_while_the_plan_was_read_is_not_cached(store: RunStore, tmp_path: Path) -> None:
    """A change during the read (its time after the read began; set here into the future)
    could hold other bytes than those read, with the same coarse timestamps: no entry."""
    prof = tmp_path / "racy.yaml"
    prof.write_text("extends: strict\ndescription: racy\n")
    future = time.time() + 3600
    os.utime(prof, (future, future))
    args = ("--rm", "--profile", str(prof), "bbtest", "/bin/true")
    assert not was_hit(run(store, *args)[1])
    assert not was_hit(run(store, *args)[1])
    os.utime(prof, (future - 7200, future - 7200))  # settled: ctime is now, but the next run starts later
    time.sleep(0.2)
    assert not was_hit(run(store, *args)[1])
    assert was_hit(run(store, *args)[1])


def test_a_profile_named_by_a_moved_symlink_is_a_miss(store: RunStore, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: strict\nrlimits:\n  RLIMIT_NOFILE: {soft: 55, hard: 55}\n")
    (tmp_path / "b.yaml").write_text("extends: strict\nrlimits:\n  RLIMIT_NOFILE: {soft: 66, hard: 66}\n")
    link = tmp_path / "p.yaml"
    link.symlink_to("a.yaml")
    args = ("--rm", "--profile", str(link), "bbtest", "sh", "-c", "ulimit -n")
    assert run(store, *args)[0].stdout == "55\n"
    assert run(store, *args)[0].stdout == "55\n"
    link.unlink()
    link.symlink_to("b.yaml")
    assert run(store, *args)[0].stdout == "66\n"


def test_a_retagged_image_is_a_miss(store: RunStore, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = imagebuild.busybox_image(tmp_path_factory.mktemp("other"), "other", user="0")
    assert store.hardbox("image", "import", other.ref, "--tag", "plans-other").returncode == 0
    assert store.hardbox("image", "tag", "bbtest", "plans-moving").returncode == 0
    args = ("--rm", "--profile", "strict", "plans-moving", "id", "-u")
    assert run(store, *args)[0].stdout == "1000\n"  # busybox_layout's user
    proc, modules = run(store, *args)
    assert was_hit(modules) and proc.stdout == "1000\n"
    assert store.hardbox("image", "tag", "plans-other", "plans-moving").returncode == 0
    proc, modules = run(store, *args)
    assert not was_hit(modules) and proc.stdout == "0\n"  # the image the name names now


def test_a_changed_option_is_a_miss(store: RunStore) -> None:
    base = ("--rm", "--profile", "default", "--network", "none", "-u", "0")  # root: default's caps
    cmd = ("bbtest", "sh", "-c", "grep CapEff /proc/self/status")
    run(store, *base, *cmd)
    proc, modules = run(store, *base, *cmd)
    assert was_hit(modules)
    dropped, modules = run(store, *base, "--cap-drop", "ALL", *cmd)
    assert not was_hit(modules)
    assert dropped.stdout == "CapEff:\t0000000000000000\n" != proc.stdout
    assert was_hit(run(store, *base, "--cap-drop", "ALL", *cmd)[1])
    # Per-run values are not part of the plan: another command, -e or -w is still a hit.
    proc, modules = run(store, *base, "-e", "X=1", "-w", "/tmp", "bbtest", "sh", "-c", "echo $X; pwd")
    assert was_hit(modules) and proc.stdout == "1\n/tmp\n"


@pytest.mark.parametrize("damage", [
    b"", b"{not json", b"[]", b'{"format": 1}',
    # Valid JSON of the right shape with one field of the wrong type.
    "no_new_privs", "seccomp_bpf", "layers",
])
def test_a_damaged_entry_is_a_miss_and_is_rewritten(store: RunStore, damage: bytes | str) -> None:
    args = ("--rm", "--profile", "strict", "bbtest", "sh", "-c", STATUS)
    shutil.rmtree(store.root / "cache" / "plans", ignore_errors=True)
    good, _ = run(store, *args)
    (entry,) = (store.root / "cache" / "plans").glob("*.json")  # this run's: the only one
    if isinstance(damage, bytes):
        entry.write_bytes(damage)
    else:
        raw = json.loads(entry.read_text())
        part = raw["image"] if damage in raw["image"] else raw["profile"]
        part[damage] = 1 if damage != "no_new_privs" else "yes"
        entry.write_text(json.dumps(raw))
    proc, modules = run(store, *args)
    assert not was_hit(modules) and proc.stdout == good.stdout
    assert was_hit(run(store, *args)[1])


def test_a_cached_plan_hardens_the_container_as_an_uncached_one(store: RunStore) -> None:
    args = ("--rm", "--profile", "strict", "bbtest", "sh", "-c", STATUS)
    shutil.rmtree(store.root / "cache" / "plans", ignore_errors=True)
    uncached, modules = run(store, *args)
    assert not was_hit(modules)
    cached, modules = run(store, *args)
    assert was_hit(modules)
    assert cached.stdout == uncached.stdout
    status = dict(line.split(":\t") for line in cached.stdout.splitlines() if ":\t" in line)
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
    assert {status[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == {"0000000000000000"}
    assert cached.stdout.splitlines()[-2].split()[0] == "0"  # container root is mapped ...
    assert cached.stdout.splitlines()[-2].split()[1] != "0"  # ... to an unprivileged host uid
