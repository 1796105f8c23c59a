"""What the command line costs a container's start (issue 14, bench/RESULTS.md): a real
`hardbox run --rm` and a real `hardbox exec`, started through the console script hardbox
installs (scripts/hardbox), read their lines without argparse (cli/quickparse.py) and load
none of argparse's modules; the script itself loads nothing before hardbox.

Modules are read from ``-X importtime``, with stdout and stderr pipes as the benches have them.
The rest of the standard library a start must not load (re, typing, json, ...) is guarded by
test_run_plan_cache.py and unit/runtime/test_exec_startup.py, which run without site: a
development venv's .pth files load re before any of hardbox.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hardbox"
# argparse and what it brings (gettext, locale), and the parser built from it.
NOT_ON_THE_QUICK_PATH = ("argparse", "gettext", "locale", "hardbox.cli.parser", "hardbox.cli.options")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, busybox_layout: imagebuild.OciImage) -> RunStore:
    return make_store(tmp_path_factory.mktemp("cli-startup") / "store", busybox_layout.ref)


def imports(store: RunStore, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the console script with ARGS; its result and the modules it imported, in order."""
    proc = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT), *args],
                          capture_output=True, text=True, env=store.env(), timeout=60)
    modules = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line]
    return proc, modules[1:]  # the first is the header line's


def interpreter_start() -> set[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True)
    return {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if "|" in line}


@pytest.fixture
def container(store: RunStore) -> Iterator[str]:
    proc = store.hardbox("run", "-d", "--profile", "strict", "bbtest", "sleep", "600")
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    yield cid
    store.hardbox("rm", "-f", cid)


def test_a_run_reads_its_line_without_argparse(store: RunStore) -> None:
    args = ("run", "--rm", "--profile", "strict", "-e", "X=1", "bbtest", "sh", "-c", "echo $X")
    imports(store, *args)  # the first run resolves the plan (the profile model, jsonschema...)
    proc, modules = imports(store, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1\n"
    assert "hardbox.runtime.container" in modules and "hardbox.cli.quickparse" in modules  # a real run
    assert sorted(set(NOT_ON_THE_QUICK_PATH) & set(modules)) == []


def test_the_console_script_loads_nothing_before_hardbox(store: RunStore) -> None:
    """pip's generated wrapper imported re first (~12 ms); scripts/hardbox imports hardbox."""
    proc, modules = imports(store, "run", "--rm", "bbtest", "true")
    assert proc.returncode == 0, proc.stderr
    before = modules[:modules.index("hardbox")]
    assert sorted(set(before) - interpreter_start()) == []


def test_an_exec_reads_its_line_without_argparse(store: RunStore, container: str) -> None:
    proc, modules = imports(store, "exec", "-e", "X=2", container, "sh", "-c", "echo $X")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2\n"
    assert "hardbox.runtime.exec" in modules and "hardbox.cli.quickparse" in modules
    assert sorted(set(NOT_ON_THE_QUICK_PATH) & set(modules)) == []


def test_a_usage_error_still_goes_through_argparse(store: RunStore) -> None:
    proc, modules = imports(store, "run", "--network", "bogus", "bbtest")
    assert proc.returncode == 125
    assert "argument --network: invalid choice: 'bogus'" in proc.stderr
    assert "argparse" in modules
