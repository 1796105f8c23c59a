"""The gate's YAML documents (policies, exceptions): hardbox.yamldoc with the gate's
schemas and hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hardbox import yamldoc
from hardbox.resources import policies
from hardbox.yamldoc import Document

__all__ = ["Document", "load_schema", "read"]


def read(path: Path, kind: str, schema: dict[str, Any]) -> Document:
    return yamldoc.read(path, kind, schema, hint="see docs/gate.md")


def load_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((policies() / "gate" / name).read_text(encoding="utf-8"))
    return loaded
