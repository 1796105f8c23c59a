"""`hardbox run --explain` and the option checks that happen before anything starts."""

from __future__ import annotations

import json

import pytest
from helpers.hbrun import RunStore

from hardbox.runtime.profile.explain import steps
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.options import RunOptions, apply_options


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "store")  # --explain needs no image in the store


def test_explain_lists_every_step_without_starting(store):
    proc = store.hardbox("run", "--explain", "--profile", "strict", "anything")
    assert proc.returncode == 0, proc.stderr
    for needle in ("user namespace", "seccomp", "strict filter", "capabilities", "= none",
                   "no_new_privs", "read-only", "noexec", "only lo up", "CVE-2024-21626",
                   "no option weakens this profile"):
        assert needle in proc.stdout, needle
    assert not (store.root / "containers").exists()


def test_explain_json_names_weakenings(store):
    proc = store.hardbox("run", "--explain", "--json", "--cap-add", "NET_ADMIN", "--network", "host",
                         "--read-only", "img")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["profile"] == "default"
    causes = {w["cause"] for w in report["weakenings"]}
    assert causes == {"--cap-add NET_ADMIN", "--network host"}
    by_step = {s["step"]: s for s in report["steps"]}
    assert "CAP_NET_ADMIN" in by_step["capabilities"]["setting"]
    assert by_step["network"]["status"] == "off"
    assert "read-only" in by_step["root filesystem"]["setting"]
    assert by_step["selinux"]["status"] == "skipped"  # this host has no SELinux


@pytest.mark.parametrize("option", [["--cap-add", "NET_ADMIN"], ["--network", "host"], ["--pids-limit", "100000"]])
def test_strict_refuses_weakening_options(store, option):
    proc = store.hardbox("run", "--profile", "strict", *option, "bbtest", "true")
    assert proc.returncode == 125  # run's own failures are Docker's 125, never a status 2
    assert "strict" in proc.stderr and "refuses" in proc.stderr


def test_usage_errors(store):
    # As with `docker run`, hardbox's own failures exit 125: the container's own status 2
    # must not be mistaken for a usage error.
    assert store.hardbox("run", "--json", "bbtest").returncode == 125
    assert store.hardbox("run", "-d", "-t", "bbtest").returncode == 125
    assert store.hardbox("run", "--no-such-option", "bbtest").returncode == 125
    missing = store.hardbox("run", "no-such-image")
    assert missing.returncode == 125 and "no-such-image" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.splitlines()) <= 2
    bad_volume = store.hardbox("run", "-v", "/no/such:/x", "--explain", "img")
    assert bad_volume.returncode == 0  # --explain starts nothing and opens nothing
    bad = store.hardbox("run", "-v", "/no/such:/x", "no-such-image")
    assert bad.returncode == 125


def test_steps_follow_the_profile():
    default, _ = apply_options(load_profile("default"), RunOptions())
    names = [s.step for s in steps(default, init=True)]
    assert names.index("pivot_root") < names.index("capabilities") < names.index("seccomp")
    assert names[-1] == "init"
