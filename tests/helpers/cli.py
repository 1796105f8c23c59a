"""What most tests share besides images: run the real CLI in a subprocess (``hardbox``), and
skip, saying why, when a peer tool or root is missing (``need_tool``, ``need_root``).

They live here, not in conftest.py, because test modules import them: tests/fuzz has a
conftest of its own, and a ``from conftest import`` would get whichever pytest loaded last.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest


def need_tool(*names: str) -> None:
    """Skip, saying why, when a peer tool is not installed (scripts/install-deps.sh installs
    all of them, so CI skips nothing)."""
    for name in names:
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (scripts/install-deps.sh installs it)")


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, mounts and cgroups are set up for real")


def hardbox(*args: str, check: bool = False, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "hardbox", *args], capture_output=True, text=True, **kw  # type: ignore[call-overload]
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hardbox {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc
