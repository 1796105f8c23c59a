"""-q/--quiet: the progress a command draws on a terminal goes away, before or after the
subcommand (issue 17); the result lines stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.terminal import stderr_on_a_terminal


@pytest.mark.parametrize("quiet", [None, ["-q"], ["--quiet"]], ids=["progress", "-q", "--quiet"])
def test_import_progress_and_quiet(busybox_archive: Path, tmp_path: Path, quiet: list[str] | None) -> None:
    env = {**os.environ, "HARDBOX_ROOT": str(tmp_path / "store")}
    env.pop("NO_COLOR", None)
    args = ["image", "import", str(busybox_archive)]
    status, err = stderr_on_a_terminal(*(args + quiet if quiet else args), env=env)
    assert status == 0, err
    if quiet is None:
        assert b"importing " in err and b"\x1b[K" in err  # the redrawn progress line
    else:
        assert b"importing " not in err and b"\x1b[K" not in err, err
    if quiet == ["-q"]:  # before the subcommand too
        status, err = stderr_on_a_terminal("-q", *args, env={**env, "HARDBOX_ROOT": str(tmp_path / "s2")})
        assert status == 0, err
        assert b"importing " not in err, err
