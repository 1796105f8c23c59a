"""Vulnerability data: OSV advisories imported offline (importer), kept in a local sqlite
index (index), and matched against installed packages with each ecosystem's version
ordering (match, with ``hardbox.scan.versions``).

The scanner's entry points::

    with open_db(path) as db:
        result = match(packages, os_release, db)   # MatchResult(findings, errors)
"""

from __future__ import annotations

from pathlib import Path

from hardbox.scan.vulndb.index import VulnIndex, default_db_path
from hardbox.scan.vulndb.match import MatchError, MatchResult, match


def open_db(path: Path | None = None) -> VulnIndex:
    """Open an existing index for reading (a context manager); ``InputError`` if ``path``
    is missing or not a hardbox index. Defaults to ``<store root>/db/osv.sqlite``."""
    return VulnIndex.open(path or default_db_path())


__all__ = ["MatchError", "MatchResult", "VulnIndex", "default_db_path", "match", "open_db"]
