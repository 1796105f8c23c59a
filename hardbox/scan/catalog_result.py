"""Cataloging an image: every registered cataloger in one walk, then the packages, the OS and
each cataloger's status, as one ``CatalogResult``.

``CatalogSession`` is the piece the scanner uses: it hands its visitors to the scanner's own
walk (beside the checks) and turns the finished walk into a result. ``catalog_image`` is the
same thing for callers that only want the packages (``hardbox sbom``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hardbox.scan.catalog import CATALOGERS, CatalogContext, Cataloger, CatalogerStatus
from hardbox.scan.catalog.os_release import OSRelease, read_os_release
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageSource, MergedView, walk


@dataclass(frozen=True)
class CatalogResult:
    packages: tuple[Package, ...]
    os: OSRelease | None
    statuses: tuple[CatalogerStatus, ...]
    # Entries the walk itself could not read, "path: reason".
    walk_errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The SBOM summary of ``hardbox scan --json``."""
        by_ecosystem: dict[str, int] = {}
        for pkg in self.packages:
            by_ecosystem[pkg.ecosystem] = by_ecosystem.get(pkg.ecosystem, 0) + 1
        return {
            "os": self.os.to_dict() if self.os else None,
            "packages": len(self.packages),
            "by_ecosystem": dict(sorted(by_ecosystem.items())),
            "catalogers": [s.to_dict() for s in self.statuses],
            "walk_errors": list(self.walk_errors),
        }


class CatalogSession:
    """One cataloging pass: fresh cataloger instances, their visitors, then the result."""

    def __init__(
        self, catalogers: tuple[type[Cataloger], ...] = CATALOGERS, *, with_files: bool = True
    ) -> None:
        self.catalogers: list[Cataloger] = [cls(with_files=with_files) for cls in catalogers]

    @property
    def visitors(self) -> list[Cataloger]:
        return list(self.catalogers)

    def finish(self, view: MergedView) -> CatalogResult:
        os_release = read_os_release(view)
        ctx = CatalogContext(view=view, os=os_release)
        packages: list[Package] = []
        statuses: list[CatalogerStatus] = []
        for cataloger in self.catalogers:
            found = cataloger.packages(ctx)
            packages.extend(found)
            statuses.append(cataloger.status(len(found)))
        return CatalogResult(
            packages=tuple(sorted(packages, key=Package.sort_key)),
            os=os_release,
            statuses=tuple(statuses),
            walk_errors=tuple(view.errors),
        )


def catalog_image(image: ImageSource, *, with_files: bool = True) -> CatalogResult:
    """Walk ``image`` once with every cataloger and return what they found; without
    ``with_files`` the packages' owned files are left out (and not read)."""
    session = CatalogSession(with_files=with_files)
    view = walk(image, session.visitors)
    return session.finish(view)
