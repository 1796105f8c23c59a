"""Helpers importable from any test module (conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

from conftest import hardbox as hardbox_cli

__all__ = ["hardbox_cli"]
