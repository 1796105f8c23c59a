"""Version orderings: one module per scheme, registered in ``SCHEMES`` by the scheme's name.

``scheme_for(ecosystem)`` takes a package ecosystem ("deb", "npm", ...) and returns the
``VersionScheme`` its row of ``hardbox.scan.ecosystems.TABLE`` names (npm and Go share
semver). ``SEMVER`` is separate because OSV ranges of type SEMVER use semver ordering
whatever the ecosystem.

A new ordering: write ``versions/NAME.py`` exposing ``SCHEME``, register it below and name it
in the ecosystem's row; tests/unit/scan/test_ecosystems.py fails for a row whose scheme is
not registered.
"""

from __future__ import annotations

from hardbox.scan.ecosystems import ecosystem as ecosystem_row
from hardbox.scan.versions import apk, dpkg, maven, pep440, rpm, semver
from hardbox.scan.versions.base import Comparable, InvalidVersion, Scheme, VersionScheme

SCHEMES: dict[str, VersionScheme] = {
    scheme.name: scheme
    for scheme in (dpkg.SCHEME, apk.SCHEME, rpm.SCHEME, pep440.SCHEME, semver.SCHEME, maven.SCHEME)
}

SEMVER: VersionScheme = semver.SCHEME


def scheme_for(ecosystem: str) -> VersionScheme:
    """The ordering of a package ecosystem; ``KeyError`` names an ecosystem the table lacks
    or a scheme that is not registered."""
    name = ecosystem_row(ecosystem).version_scheme
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyError(f"ecosystem {ecosystem!r}: no version ordering {name!r} registered") from None


__all__ = ["SCHEMES", "SEMVER", "Comparable", "InvalidVersion", "Scheme", "VersionScheme", "scheme_for"]
