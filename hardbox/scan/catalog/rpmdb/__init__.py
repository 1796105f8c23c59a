"""Readers of rpm's three database formats, registered in ``READERS`` by the file name
rpm gives each: ``rpmdb.sqlite`` (rpm >= 4.16), ``Packages`` (Berkeley DB hash, older rpm)
and ``Packages.db`` (ndb, SUSE). Each yields the header blobs it holds (``interface.py``);
``header.parse_header`` reads a blob, whichever format held it."""

from __future__ import annotations

from hardbox.scan.catalog.rpmdb import bdb, ndb, sqlite
from hardbox.scan.catalog.rpmdb.interface import (
    Damage,
    Entry,
    HeaderBlob,
    Reader,
    UnsupportedDatabase,
)

READERS: dict[str, Reader] = {
    "rpmdb.sqlite": sqlite.read,
    "Packages": bdb.read,
    "Packages.db": ndb.read,
}

__all__ = ["READERS", "Damage", "Entry", "HeaderBlob", "Reader", "UnsupportedDatabase"]
