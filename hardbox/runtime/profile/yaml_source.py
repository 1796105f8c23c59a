"""Reading one profile file: YAML with line numbers, validated against the profile schema
(hardbox.yamldoc does the reading; this module knows the profile's schema and hint).

Imported only on a parsed-profile cache miss (profile._read_chain): it brings PyYAML and,
at validation, jsonschema, which a cache hit never loads."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from hardbox.resources import policies
from hardbox.yamldoc import Document, read

# One profile file: its path, the parsed mapping, and the node tree for line lookups.
ProfileDocument = Document

_HINT = "see docs/writing-a-profile.md; check a file with `hardbox profile validate FILE`"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = (policies() / "profiles" / "schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def read_document(path: Path) -> ProfileDocument:
    """Parse and schema-validate one profile file (``extends`` is not followed here)."""
    return read(path, "profile", schema(), hint=_HINT)
