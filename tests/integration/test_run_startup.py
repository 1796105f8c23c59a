"""`hardbox run` imports only what starting a container needs (docs/architecture.md, "Fast where it
matters"). A structural check, not a timing one: the modules a real `hardbox run` imports —
read from ``python -X importtime``, which lists every module as it is first imported — leave
out the scanner's and reporter's libraries always, and PyYAML and jsonschema once the
profile is in the cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root

NEVER = ("jsonschema", "jinja2", "cyclonedx", "referencing", "packageurl", "zstandard",
         "elftools", "debian", "cvss", "selinux", "pyseccomp")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, busybox_layout: object) -> RunStore:
    return make_store(tmp_path_factory.mktemp("startup") / "store", busybox_layout.ref)  # type: ignore[attr-defined]


def imported_by_run(store: RunStore, *args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hardbox", "run", *args],
        capture_output=True, text=True, env=store.env(), timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    modules.discard("imported package")  # the header line
    assert "hardbox.runtime.container" in modules  # the probe saw the real run path
    return modules


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_run_on_a_cache_hit_skips_yaml_and_every_scan_library(store: RunStore) -> None:
    args = ("--rm", "--profile", "strict", "bbtest", "/bin/true")
    first = top_level(imported_by_run(store, *args))  # a miss (fresh store): validates
    # a miss also compiles the seccomp filter (pyseccomp); both caches are warm afterwards
    assert not first & (set(NEVER) - {"jsonschema", "referencing", "pyseccomp"})
    modules = imported_by_run(store, *args)
    cached = top_level(modules)
    assert not cached & set(NEVER), sorted(cached & set(NEVER))
    assert "yaml" not in cached
    hardbox_modules = {m for m in modules if m.startswith("hardbox.")}
    # Nothing from the scanning, reporting, minimizing or gating stages on the run path.
    for stage in ("hardbox.scan", "hardbox.report", "hardbox.minimize", "hardbox.gate"):
        assert not {m for m in hardbox_modules if m.startswith(stage)}, stage
    # Nor the profile's YAML reader, nor the exporters.
    assert "hardbox.runtime.profile.yaml_source" not in hardbox_modules
    assert "hardbox.runtime.profile.export" not in hardbox_modules


def test_a_changed_profile_file_is_validated_on_the_run_path(store: RunStore, tmp_path: Path) -> None:
    prof = tmp_path / "mine.yaml"
    prof.write_text("extends: strict\ndescription: one\n")
    args = ("--rm", "--profile", str(prof), "bbtest", "/bin/true")
    imported_by_run(store, *args)
    assert "yaml" not in top_level(imported_by_run(store, *args))
    prof.write_text("extends: strict\ndescription: two\n")
    assert {"yaml", "jsonschema"} <= top_level(imported_by_run(store, *args))
    prof.write_text("extends: strict\nnetwork: sideways\n")
    proc = store.hardbox("run", *args)
    assert proc.returncode == 125 and "mine.yaml:2: network" in proc.stderr


def test_quick_exit_loses_no_output(store: RunStore) -> None:
    """`hardbox run` ends with os._exit (no interpreter teardown): what hardbox itself wrote
    to its pipes — the notes on stderr, `-d`'s id on stdout — must still arrive."""
    proc = store.hardbox("run", "--rm", "--profile", "strict", "bbtest", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert proc.returncode == 3
    assert proc.stdout == "out\n"
    assert "err\n" in proc.stderr
    from hardbox.runtime.selinux import host_has_selinux

    if not host_has_selinux():  # the one note every run on this host prints
        assert "hardbox: skipped: selinux: unavailable on this host" in proc.stderr
    started = store.hardbox("run", "-d", "--rm", "--profile", "strict", "bbtest", "true")
    assert started.returncode == 0, started.stderr
    assert len(started.stdout.strip()) == 64, started.stdout


def test_the_collector_is_back_on_for_every_other_command() -> None:
    """run() keeps the cyclic GC off only for a quick-exit command (`hardbox run`)."""
    import gc

    from hardbox.cli import main as cli_main

    gc.disable()
    try:
        assert cli_main.main(["profile", "list"]) == 0
        assert gc.isenabled()
    finally:
        gc.enable()
