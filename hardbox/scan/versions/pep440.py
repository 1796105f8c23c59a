"""Python package version ordering (PEP 440), through ``packaging.version`` — the
implementation pip itself uses, so hardbox orders PyPI versions exactly as pip does."""

from __future__ import annotations

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from hardbox.scan.versions.base import Comparable, InvalidVersion, Scheme


def _parse(text: str) -> Comparable:
    try:
        return Version(text)
    except _PackagingInvalid as err:
        raise InvalidVersion("pep440", text, str(err)) from None


SCHEME = Scheme("pep440", _parse)
