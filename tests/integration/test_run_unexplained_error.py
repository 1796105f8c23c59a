"""A refusal of the system that no layer turned into a message of its own still ends `hardbox
run` with 125, not 2: run passes the container's status through, and 2 is a status a
container may exit with (docker run's convention). Other commands keep 2.

The trigger is real: $HARDBOX_ROOT names a regular file, so the first file a run writes
beneath it (the seccomp filter cache) fails with ENOTDIR."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import hardbox

pytestmark = [pytest.mark.root]


def test_run_exits_125_and_other_commands_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "not-a-directory"
    root.write_text("")
    monkeypatch.setenv("HARDBOX_ROOT", str(root))
    run = hardbox("run", "--rm", "--profile", "strict", "bbtest", "true")
    assert run.returncode == 125, run.stderr
    lines = [line for line in run.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1 and str(root) in lines[0] and "Not a directory" in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    ls = hardbox("image", "ls")
    assert ls.returncode == 2 and str(root) in ls.stderr, ls.stderr
