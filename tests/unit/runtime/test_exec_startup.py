"""`hardbox exec`'s start-up budget (issue 14, bench/RESULTS.md): the exec path loads what
joining a container needs and none of the modules that made it 3x `runc exec`.

Read in a fresh interpreter started with ``-S`` (no site-packages, so no ``.pth`` file of
the development venv imports anything first, and no third-party package is reachable):
importing the exec path must succeed on the standard library alone and leave the heavy
modules unloaded — the seccomp compiler and the profile model, the image store,
``dataclasses`` (with ``inspect``), ``pathlib``, ``hashlib`` (OpenSSL), ``socket.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hardbox

# Each was on the exec path before, and each cost milliseconds there: the state is read with
# hardbox.jsontext (json's decoder loads re and enum), signals go through _signal and fds
# through int.to_bytes (array loads collections.abc), nothing needs typing or contextlib.
HEAVY = (
    "dataclasses", "inspect", "pathlib", "hashlib", "_hashlib", "socket", "selectors",
    "shutil", "threading", "yaml", "jsonschema",
    "json", "json.decoder", "re", "enum", "typing", "functools", "collections", "contextlib",
    "signal", "array", "importlib", "argparse",
    "hardbox.runtime.seccomp", "hardbox.runtime.request", "hardbox.runtime.container",
)
HEAVY_PACKAGES = ("hardbox.runtime.profile", "hardbox.image", "hardbox.scan")


def loaded_by(*modules: str) -> set[str]:
    code = f"import sys, {', '.join(modules)}; print(' '.join(sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(Path(hardbox.__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(out.stdout.split())


def test_the_exec_path_loads_no_heavy_module() -> None:
    loaded = loaded_by("hardbox.cli.exec", "hardbox.runtime.exec", "hardbox.runtime.seccomp_install")
    assert "hardbox.runtime.exec" in loaded and "ctypes" in loaded  # the probe sees imports
    assert sorted(m for m in HEAVY if m in loaded) == []
    assert sorted(m for m in loaded if m.startswith(HEAVY_PACKAGES)) == []


def test_installing_a_filter_needs_neither_libseccomp_nor_the_profile_model() -> None:
    loaded = loaded_by("hardbox.runtime.seccomp_install")
    assert "seccomp" not in loaded and "pyseccomp" not in loaded
    assert not [m for m in loaded if m.startswith("hardbox.runtime.profile")]


def test_a_terminal_adds_no_heavy_module() -> None:
    """`exec -t` (and `run -t`) load tty.py too: its relay is a plain class on _signal."""
    loaded = loaded_by("hardbox.cli.exec", "hardbox.runtime.exec", "hardbox.runtime.tty")
    assert "hardbox.runtime.tty" in loaded and "termios" in loaded
    assert sorted(m for m in HEAVY if m in loaded) == []
