"""Locates the data that ships with hardbox: policies/ and templates/.

Installed, they are the packages ``hardbox.policies`` and ``hardbox.templates`` (setup.py maps
the top-level folders there). Run from a source checkout without installing, they are the
folders beside the package.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _data(name: str) -> Traversable:
    try:
        return importlib.resources.files(f"hardbox.{name}")
    except ModuleNotFoundError:
        return _SOURCE_ROOT / name


def policies() -> Traversable:
    """The shipped policies folder (profiles/, seccomp/, gate/, selinux/)."""
    return _data("policies")


def templates() -> Traversable:
    """The shipped jinja2 templates folder."""
    return _data("templates")
