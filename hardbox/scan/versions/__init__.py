"""Version ordering per ecosystem: one module each, registered in ``SCHEMES``.

``scheme_for(ecosystem)`` takes hardbox's package ecosystem names ("deb", "apk", "rpm",
"pypi", "npm", "golang", "maven"; see ``hardbox.scan.package.ECOSYSTEMS``) and returns the
``VersionScheme`` that orders that ecosystem's versions. ``SEMVER`` is separate because OSV
ranges of type SEMVER use semver ordering whatever the ecosystem.

Adding an ecosystem: write ``versions/NAME.py`` exposing ``SCHEME``, register it below; the
registry test fails for a package ecosystem with no scheme.
"""

from __future__ import annotations

from hardbox.scan.versions import apk, dpkg, maven, pep440, rpm, semver
from hardbox.scan.versions.base import Comparable, InvalidVersion, Scheme, VersionScheme

SCHEMES: dict[str, VersionScheme] = {
    "deb": dpkg.SCHEME,
    "apk": apk.SCHEME,
    "rpm": rpm.SCHEME,
    "pypi": pep440.SCHEME,
    "npm": semver.SCHEME,
    "golang": semver.SCHEME,
    "maven": maven.SCHEME,
}

SEMVER: VersionScheme = semver.SCHEME


def scheme_for(ecosystem: str) -> VersionScheme:
    """The ordering of a package ecosystem; ``KeyError`` names the unknown ecosystem."""
    try:
        return SCHEMES[ecosystem]
    except KeyError:
        raise KeyError(f"no version ordering registered for ecosystem {ecosystem!r}") from None


__all__ = ["SCHEMES", "SEMVER", "Comparable", "InvalidVersion", "Scheme", "VersionScheme", "scheme_for"]
