"""The CLI run in-process, for tests outside conftest's reach (``helpers.cli.hardbox_cli``)."""

from __future__ import annotations

from conftest import hardbox as hardbox_cli

__all__ = ["hardbox_cli"]
