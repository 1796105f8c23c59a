"""Locates the data that ships with hardbox: policies/ and templates/.

Installed, they are the packages ``hardbox.policies`` and ``hardbox.templates`` (setup.py maps
the top-level folders there). Run from a source checkout without installing, they are the
folders beside the package. Either way the answer is a real directory ``Path``: the folders
hold no ``__init__.py``, so importlib.resources would hand back a ``MultiplexedPath`` whose
``str()`` is not a path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _data(name: str) -> Path:
    checkout = _SOURCE_ROOT / name
    if checkout.is_dir() and (_SOURCE_ROOT / "pyproject.toml").is_file():
        return checkout
    spec = importlib.util.find_spec(f"hardbox.{name}")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    return checkout


def policies() -> Path:
    """The shipped policies folder (profiles/, seccomp/, gate/, selinux/, secrets/)."""
    return _data("policies")


def templates() -> Path:
    """The shipped jinja2 templates folder."""
    return _data("templates")
