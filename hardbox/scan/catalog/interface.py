"""The cataloger seam: what every per-ecosystem cataloger is and reports.

A cataloger is a walk visitor (``name``, ``wants``, ``visit``) that, once the walk is done,
turns what it read into ``Package``s. The base holds what every cataloger shares: the rule
that a package's layer is the earliest layer that held it (``introduced``), its purl's type
(``purl``, from its ecosystem's row of ``hardbox.scan.ecosystems.TABLE``), and the status.
Damage in an image is data, not an exception (docs/architecture.md, "Partial failure is
data"): a file a cataloger cannot parse is recorded as a problem, and the cataloger's
``CatalogerStatus`` says succeeded, partial or failed with the reasons, which the SBOM
carries. A fresh instance is made for every walk.
"""

from __future__ import annotations

import contextlib
import enum
import struct
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

from hardbox.findings import LayerRef
from hardbox.scan.ecosystems import ecosystem
from hardbox.scan.package import Package, make_purl
from hardbox.scan.walk import ImageFile, MergedView

if TYPE_CHECKING:
    from hardbox.scan.catalog.os_release import OSRelease

# How many problems one cataloger keeps verbatim; past that only the count grows, so an
# image with a million broken manifests does not make a million-line SBOM.
_MAX_REASONS = 50


class Status(enum.Enum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some input was damaged and skipped; the packages found are listed
    FAILED = "failed"  # input was there but nothing could be read from it
    UNSUPPORTED = "unsupported"  # input in a variant hardbox cannot read (an encrypted rpm Berkeley DB)


@dataclass(frozen=True)
class CatalogerStatus:
    cataloger: str
    status: Status
    packages: int = 0
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "cataloger": self.cataloger,
            "status": self.status.value,
            "packages": self.packages,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class CatalogContext:
    """What catalogers need after the walk: the merged view (to resolve a path) and the
    image's OS release (purl ``distro`` qualifiers for OS packages)."""

    view: MergedView
    os: OSRelease | None


# Errors that mean "this input is damaged", as opposed to a bug in hardbox: caught per file,
# recorded, and the walk goes on. (json.JSONDecodeError, UnicodeDecodeError and FileTooLarge
# are ValueErrors; zipfile raises BadZipFile; struct.error comes from binary headers.)
DAMAGE = (OSError, ValueError, LookupError, EOFError, struct.error, zipfile.BadZipFile)


class Sighting(Protocol):
    """One package record as a cataloger read it from one layer's copy of its evidence."""

    @property
    def layer(self) -> LayerRef: ...
    @property
    def visible(self) -> bool: ...


S = TypeVar("S", bound=Sighting)


@dataclass(frozen=True)
class ManifestSighting:
    """A language package's own manifest (a dist-info METADATA, a package.json) seen in one
    layer: one package per location, so the same release installed in two virtualenvs or
    nested under two node_modules is two packages."""

    name: str
    version: str
    licenses: tuple[str, ...]
    location: str
    layer: LayerRef
    visible: bool

    def key(self) -> tuple[str, str, str]:
        return (self.location, self.name, self.version)


class Cataloger(ABC):
    """Base of every cataloger. Subclasses set ``name`` ("os/dpkg", "language/python") and
    ``ecosystem``, implement ``wants``, ``read`` (one wanted file) and ``packages``."""

    name: ClassVar[str]
    ecosystem: ClassVar[str]
    # Extra exception types a subclass's parser raises on damaged input (pyelftools' ELFError).
    damage: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, *, with_files: bool = True) -> None:
        # Whether to record the files each package owns (``Package.files``): only
        # ``--with-files`` shows them, and for dpkg they cost a read of every ``.list``.
        self.with_files = with_files
        self._reasons: list[str] = []
        self._problems = 0
        self._unsupported = False

    @abstractmethod
    def wants(self, path: str) -> bool: ...

    @abstractmethod
    def read(self, file: ImageFile) -> None:
        """Read one wanted file; raise one of ``DAMAGE`` when it is broken."""

    @abstractmethod
    def packages(self, ctx: CatalogContext) -> list[Package]:
        """The packages found, built after the walk."""

    @staticmethod
    def introduced(sightings: Iterable[S], key: Callable[[S], Hashable]) -> Iterator[tuple[S, LayerRef]]:
        """Each visible sighting with the layer that introduced it: the earliest layer whose
        copy of the evidence, hidden by a later layer or not, held the same ``key`` (name and
        version, say). A package database is rewritten by every layer that installs
        anything, so the visible copy is the newest layer's; the package came with the first
        copy that lists it. Hidden sightings only date a package, never make one present."""
        seen = list(sightings)
        earliest: dict[Hashable, LayerRef] = {}
        for sighting in seen:
            k = key(sighting)
            known = earliest.get(k)
            if known is None or sighting.layer.index < known.index:
                earliest[k] = sighting.layer
        for sighting in seen:
            if sighting.visible:
                yield sighting, earliest[key(sighting)]

    @classmethod
    def purl(
        cls,
        name: str,
        version: str,
        *,
        namespace: str | None = None,
        qualifiers: Mapping[str, str] | None = None,
    ) -> str:
        """The purl of one of this cataloger's packages, of its ecosystem's purl type."""
        type_ = ecosystem(cls.ecosystem).purl_type
        return make_purl(type_, name, version, namespace=namespace, qualifiers=qualifiers)

    def visit(self, file: ImageFile) -> None:
        caught: tuple[type[BaseException], ...] = (*DAMAGE, *self.damage)
        try:
            self.read(file)
        except caught as err:
            self.problem(f"{file.path} (layer {file.layer.index}): {err}")

    @contextlib.contextmanager
    def recording(self, where: str) -> Iterator[None]:
        """Around building one ``Package``: a value that does not make a valid package (an
        empty name, a purl that will not form) is recorded as a problem, not raised."""
        try:
            yield
        except ValueError as err:
            self.problem(f"{where}: {err}")

    def problem(self, reason: str) -> None:
        self._problems += 1
        if len(self._reasons) < _MAX_REASONS:
            self._reasons.append(reason)

    def unsupported(self, reason: str) -> None:
        self._unsupported = True
        self.problem(reason)

    def status(self, found: int) -> CatalogerStatus:
        reasons = list(self._reasons)
        if self._problems > len(reasons):
            reasons.append(f"... and {self._problems - len(reasons)} more problems")
        if not self._problems:
            state = Status.SUCCEEDED
        elif found:
            state = Status.PARTIAL
        elif self._unsupported:
            state = Status.UNSUPPORTED
        else:
            state = Status.FAILED
        return CatalogerStatus(self.name, state, found, tuple(reasons))
