"""Run options folded into a profile: every weakening named, tightening never one, strict
refusing each weakening; and the command line reaches RunOptions field by field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hardbox.errors import UsageError
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.options import RunOptions, apply_options


def test_apply_options_names_weakenings() -> None:
    default = load_profile("default")
    changed, weak = apply_options(
        default,
        RunOptions(cap_add=("NET_ADMIN",), cap_drop=("CHOWN",), network="host", memory="1g", pids_limit=8192),
    )
    assert "CAP_NET_ADMIN" in changed.capabilities and "CAP_CHOWN" not in changed.capabilities
    assert changed.network == "host"
    assert changed.limits.memory == 1 << 30 and changed.limits.pids == 8192
    fields = [w.field for w in weak]
    # memory: default sets no memory limit, so adding one tightens; pids rose from 4096.
    assert fields == ["capabilities", "network", "limits.pids"]
    assert changed.weakenings == weak
    assert str(weak[0]) == "capabilities: - -> CAP_NET_ADMIN (--cap-add NET_ADMIN)"


def test_apply_options_tightening_is_not_a_weakening_and_strict_allows_it() -> None:
    strict = load_profile("strict")
    changed, weak = apply_options(strict, RunOptions(read_only=True, memory="128m", pids_limit=16, cpus=0.5))
    assert weak == () and changed.limits.memory == 128 << 20 and changed.limits.pids == 16


@pytest.mark.parametrize(
    "options",
    [RunOptions(cap_add=("NET_RAW",)), RunOptions(network="host"), RunOptions(network="private"),
     RunOptions(memory="4g"), RunOptions(pids_limit=0), RunOptions(cpus=2)],
)
def test_strict_refuses_every_weakening(options: RunOptions) -> None:
    with pytest.raises(UsageError, match="strict"):
        apply_options(load_profile("strict"), options)


def test_apply_options_refuses_nonsense() -> None:
    default = load_profile("default")
    with pytest.raises(UsageError, match="unknown capability"):
        apply_options(default, RunOptions(cap_add=("WIZARD",)))
    with pytest.raises(UsageError, match="--network"):
        apply_options(default, RunOptions(network="bridge"))
    with pytest.raises(UsageError, match="--memory"):
        apply_options(default, RunOptions(memory="a lot"))


def explain(tmp_path: Path, *options: str) -> dict[str, str]:
    """`hardbox run --explain --json` with ``options``: each step's setting by step name."""
    proc = subprocess.run(
        [sys.executable, "-m", "hardbox", "run", "--explain", "--json", *options, "img"],
        capture_output=True, text=True, env={"HARDBOX_ROOT": str(tmp_path / "store"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return {step["step"]: step["setting"] for step in report["steps"]} | {
        "weakenings": " | ".join(w["cause"] for w in report["weakenings"])
    }


def test_the_command_line_reaches_every_run_option(tmp_path: Path) -> None:
    """Each flag lands in its own RunOptions field (cli/run.py reads them in one place)."""
    plain = explain(tmp_path)
    changed = explain(
        tmp_path, "--memory", "1g", "--pids-limit", "8192", "--cpus", "0.5", "--read-only",
        "--cap-drop", "CHOWN", "--cap-add", "NET_ADMIN", "--network", "host",
    )
    assert plain["cgroup limits"].startswith("pids=4096") and "read-only" not in plain["root filesystem"]
    assert changed["cgroup limits"].startswith("memory=1073741824, pids=8192, cpus=0.5")
    assert "read-only" in changed["root filesystem"]
    assert changed["network"].startswith("network: host")
    assert changed["weakenings"] == "--cap-add NET_ADMIN | --network host | --pids-limit 8192"
    assert "CAP_NET_ADMIN" in changed["capabilities"] and "CAP_CHOWN" not in changed["capabilities"]
    assert "CAP_CHOWN" in plain["capabilities"] and "CAP_NET_ADMIN" not in plain["capabilities"]
