"""The catalogers, one module per ecosystem, all registered in ``CATALOGERS``.

``hardbox.scan.catalog_result`` runs them in one walk; the scanner runs them in the same walk
as the checks. docs/adding-a-cataloger.md says how to add one; a test fails when a module
here is not registered.
"""

from __future__ import annotations

from hardbox.scan.catalog.apk import ApkCataloger
from hardbox.scan.catalog.dpkg import DpkgCataloger
from hardbox.scan.catalog.golang import GoBinaryCataloger
from hardbox.scan.catalog.interface import (
    CatalogContext,
    Cataloger,
    CatalogerStatus,
    Status,
)
from hardbox.scan.catalog.java import JavaArchiveCataloger
from hardbox.scan.catalog.npm import NpmCataloger
from hardbox.scan.catalog.python import PythonCataloger
from hardbox.scan.catalog.rpm import RpmCataloger

# Every cataloger, OS package managers first. Instantiate one of each per walk: they keep
# what they read until ``packages()``.
CATALOGERS: tuple[type[Cataloger], ...] = (
    DpkgCataloger,
    ApkCataloger,
    RpmCataloger,
    PythonCataloger,
    NpmCataloger,
    GoBinaryCataloger,
    JavaArchiveCataloger,
)

__all__ = ["CATALOGERS", "CatalogContext", "Cataloger", "CatalogerStatus", "Status"]
