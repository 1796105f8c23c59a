"""The cataloger seam: what every per-ecosystem cataloger is and reports.

A cataloger is a walk visitor (``name``, ``wants``, ``visit``) that, once the walk is done,
turns what it read into ``Package``s. As in syft's generic cataloger, an ecosystem brings its
parser (``read``, keeping each package record it finds as a ``Sighting``) and its package
builder (``package``); the base holds what every cataloger shares: the sightings, the rule
that a package's layer is the earliest layer that held it (``introduced``), one package per
key, the fields every package of a cataloger has (``new_package``), its purl's type
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
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypedDict, TypeVar, Unpack

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

    @property
    def distro(self) -> str:
        """The purl ``distro`` qualifier of OS packages (``debian-12``); none without an
        os-release."""
        return self.os.purl_distro if self.os is not None else ""


# Errors that mean "this input is damaged", as opposed to a bug in hardbox: caught per file,
# recorded, and the walk goes on. (json.JSONDecodeError, UnicodeDecodeError and FileTooLarge
# are ValueErrors; zipfile raises BadZipFile; struct.error comes from binary headers.)
DAMAGE = (OSError, ValueError, LookupError, EOFError, struct.error, zipfile.BadZipFile)


class Dated(Protocol):
    """What ``Cataloger.introduced`` reads of a sighting: the layer of the copy it was read
    from, and whether the image still shows that copy."""

    @property
    def layer(self) -> LayerRef: ...
    @property
    def visible(self) -> bool: ...


D = TypeVar("D", bound=Dated)
R = TypeVar("R")  # a cataloger's own record of one package (a dpkg paragraph, an rpm header)


@dataclass(frozen=True)
class Sighting(Generic[R]):
    """One package record as a cataloger read it from one layer's copy of its evidence:
    what makes two records the same package (``key``: name, version and arch, say; with the
    location for language packages, where each installed copy is a package of its own), the
    record, the image path of the evidence (a database, a manifest, a binary;
    ``a.jar!/b.jar`` inside an archive), the layer of that copy and whether the image still
    shows it."""

    key: Hashable
    record: R
    location: str
    layer: LayerRef
    visible: bool


@dataclass(frozen=True)
class Manifest:
    """A language package's own manifest (a dist-info METADATA, a package.json): one package
    per location, so the same release installed in two virtualenvs or nested under two
    node_modules is two packages."""

    name: str
    version: str
    licenses: tuple[str, ...]


class Details(TypedDict, total=False):
    """What a cataloger says of a package besides its name, version and purl: the rest of
    ``Package``'s fields (``files`` only reach the package with ``with_files``)."""

    arch: str
    source_name: str
    source_version: str
    licenses: tuple[str, ...]
    files: tuple[str, ...]
    properties: tuple[tuple[str, str], ...]


class Cataloger(ABC, Generic[R]):
    """Base of every cataloger (syft's generic cataloger: the ecosystem supplies a parser
    and a package builder, the base does the rest). Subclasses set ``name`` ("os/dpkg",
    "language/python") and ``ecosystem``, and implement ``wants``, ``read`` (one wanted
    file: keep each package record with ``saw``) and ``package`` (one visible record, after
    the walk)."""

    name: ClassVar[str]
    ecosystem: ClassVar[str]
    # Extra exception types a subclass's parser raises on damaged input (pyelftools' ELFError).
    damage: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, *, with_files: bool = True) -> None:
        # Whether to record the files each package owns (``Package.files``): only
        # ``--with-files`` shows them, and for dpkg they cost a read of every ``.list``.
        self.with_files = with_files
        # Every record ``read`` kept, hidden copies too: they date packages (``introduced``).
        self.sightings: list[Sighting[R]] = []
        # The files each package owns where its ecosystem lists them apart from the package
        # record (a dpkg ``.list``, a dist-info ``RECORD``), by the key it files them under;
        # read from the visible copy, and only ``with_files``.
        self.owned: dict[str, tuple[str, ...]] = {}
        self._reasons: list[str] = []
        self._problems = 0
        self._unsupported = False

    @abstractmethod
    def wants(self, path: str) -> bool: ...

    @abstractmethod
    def read(self, file: ImageFile) -> None:
        """Read one wanted file, keeping each package record with ``saw``; raise one of
        ``DAMAGE`` when it is broken."""

    @abstractmethod
    def package(self, sighting: Sighting[R], layer: LayerRef, ctx: CatalogContext) -> Package:
        """The package one visible sighting makes (``new_package``); ``layer`` is the
        layer that introduced it. Raise ``ValueError`` when the record makes none."""

    def saw(self, file: ImageFile, key: Hashable, record: R, location: str | None = None) -> None:
        """Keep one package record read from ``file``; ``location`` is a path inside it (a
        nested archive's ``a.jar!/b.jar``)."""
        self.sightings.append(Sighting(key, record, location or file.path, file.layer, file.visible))

    def packages(self, ctx: CatalogContext) -> list[Package]:
        """The packages found, built after the walk: one per key of the visible sightings,
        dated by ``introduced``; a record that makes no valid package is a recorded problem."""
        found: dict[Hashable, Package] = {}
        for sighting, layer in self.introduced(self.sightings, _key):
            with self.recording(sighting.location):
                found[sighting.key] = self.package(sighting, layer, ctx)
        return sorted(found.values(), key=Package.sort_key)

    def new_package(
        self, sighting: Sighting[R], layer: LayerRef, name: str, version: str, purl: str,
        **details: Unpack[Details],
    ) -> Package:
        """A package of this cataloger's ecosystem, read at the sighting's location and
        brought by ``layer``."""
        if not self.with_files:
            details.pop("files", None)
        return Package(name=name, version=version, ecosystem=self.ecosystem, purl=purl,
                       cataloger=self.name, layer=layer, locations=(sighting.location,), **details)

    @staticmethod
    def introduced(sightings: Iterable[D], key: Callable[[D], Hashable]) -> Iterator[tuple[D, LayerRef]]:
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
        try:
            return make_purl(type_, name, version, namespace=namespace, qualifiers=qualifiers)
        except ValueError as err:  # the package is named here: the problem says only where
            raise ValueError(f"package {name!r}: no purl: {err}") from None

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


def _key(sighting: Sighting[R]) -> Hashable:
    return sighting.key
