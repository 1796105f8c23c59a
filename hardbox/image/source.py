"""Where an image comes from: the IMAGE a user names, parsed once into an ``ImageSource``.

``parse_source(name)`` asks each source in ``SOURCES``, in order, whether ``name`` is spelled
for it; the first that says yes holds the parsed name (a path and ``REF``, a reference), and
everything downstream — opening the image, the report's file name, whether the image can be
run — asks that value instead of reading the string again.

- ``dir:PATH`` (``DirSource``): a view of an unpacked root filesystem with one pseudo-layer.
- ``docker-archive:PATH``, ``oci:DIR[:REF]``, ``oci-archive:PATH``, or a bare path whose
  format is detected (``ArchiveSource``, spelled as in ``transport.py``): imported into a
  temporary store inside ``<root>/tmp`` — verified and unpacked exactly as a real import, so
  a scan reads the same bytes a run would — and removed when the block ends (or, if the
  process dies, at the next store open).
- ``docker://REF`` (``RegistrySource``, skopeo's spelling): a registry image, pulled on
  demand.
- anything else (``StoredSource``): a stored reference (``bbtest``, ``name@sha256:…``, an id
  prefix), looked up in the store — and, for a command that takes registry images (it passes
  ``PullOptions`` to ``open``), pulled like ``docker://REF`` when the store lacks it.

Pulling follows Podman's ``--pull``: ``missing`` (the default) uses the stored image when
there is one, ``always`` asks the registry every time, ``never`` (offline CI) refuses in one
line naming the reference. ``PullOptions.keep`` says where a pull lands: the user's store
(``run``, ``minimize``, ``bundle``, ``image inspect``), or a temporary store inside
``<root>/tmp`` removed when the block ends, so ``scan``/``sbom``/``gate`` of a registry
image leave the user's store as they found it (``--keep-image`` keeps it).

Adding a transport (a registry, say) is one ``ImageSource`` subclass — how its names are
spelled (``parse``), how it opens (``open``), what its reports are called (``stem``) — put in
``SOURCES`` ahead of ``StoredSource``, which takes every name the others leave.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol

from hardbox.errors import HardboxError, ImageNotFound, InvalidImage, InvalidReference
from hardbox.image.digest import sha256_bytes
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.platform import Platform
from hardbox.image.reference import DEFAULT_TAG, Reference
from hardbox.image.reference import parse as parse_reference
from hardbox.image.store.images import StoredImage, StoredLayer
from hardbox.image.store.importer import import_path
from hardbox.image.store.store import Store
from hardbox.image.transport import DIR_PREFIX, Transport, parse_transport

# What the architecture calls an ImageView: the same attributes as a stored image.
ImageView = StoredImage

PullPolicy = Literal["missing", "always", "never"]
REGISTRY_PREFIX = "docker://"
# What an image id (or a prefix of one long enough to mean it) looks like: never pulled.
_ID = re.compile(r"^(?:sha256:)?[a-f0-9]{12,64}$")


class PullProgress(Protocol):
    """Per-layer progress of one pull (the CLI draws it on a terminal)."""

    def __call__(self, digest: str, done: int, total: int) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class PullOptions:
    """How a command that takes registry images gets them (see the module docstring)."""

    policy: PullPolicy = "missing"
    keep: bool = True          # pull into the user's store; False: a temporary one
    tls_verify: bool = True
    progress: Callable[[str], PullProgress] | None = None  # label -> progress display


class ImageSource(ABC):
    """An image name as the user gave it (``name``), parsed."""

    name: str
    # The image is in the store already, so it can be run (``gate --probe``).
    stored: ClassVar[bool] = False
    # The image has a config (user, env, history) for the config checks to read.
    has_config: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def parse(cls, name: str) -> ImageSource | None:
        """This source for ``name``, or None when ``name`` is not spelled for it. Raises
        ``InvalidImage`` when ``name`` is clearly meant for it but unusable."""

    @abstractmethod
    def open(self, store: Store, platform: Platform | None = None,
             pull: PullOptions | None = None) -> AbstractContextManager[ImageView]:
        """The image, for the length of the block. ``pull`` is given by the commands that
        take registry images; without it nothing is pulled."""

    @property
    @abstractmethod
    def stem(self) -> str:
        """A short name for files written about the image (not yet made file-name-safe)."""


@dataclass(frozen=True)
class DirSource(ImageSource):
    """``dir:PATH``: an unpacked root filesystem (scan and sbom only)."""

    name: str
    path: Path
    has_config: ClassVar[bool] = False

    @classmethod
    def parse(cls, name: str) -> DirSource | None:
        prefix, sep, rest = name.partition(":")
        if not sep or prefix != DIR_PREFIX:
            return None
        if not rest:
            # Path("") is the working directory: a bare "dir:" would scan whatever the
            # command runs in (a checkout, a home directory) without the user naming it.
            raise InvalidImage(f"{name}: names no directory (dir:PATH; dir:. for the working directory)")
        return cls(name, Path(rest))

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None,
             pull: PullOptions | None = None) -> Iterator[ImageView]:
        yield dir_view(self.path)

    @property
    def stem(self) -> str:
        return _file_stem(self.path)


@dataclass(frozen=True)
class ArchiveSource(ImageSource):
    """An archive or layout on disk, imported into a temporary store while it is open."""

    name: str
    transport: Transport

    @classmethod
    def parse(cls, name: str) -> ArchiveSource | None:
        transport = parse_transport(name)
        if transport is None or transport.kind == DIR_PREFIX:
            return None
        return cls(name, transport)

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None,
             pull: PullOptions | None = None) -> Iterator[ImageView]:
        with store.staging() as area:
            images = import_path(Store.open(area / "store"), self.transport, platform=platform)
            if len(images) != 1:
                raise InvalidImage(f"{self.transport.path}: holds {len(images)} images; name "
                                   f"one with {self.name}:REF")
            yield images[0]

    @property
    def stem(self) -> str:
        return _file_stem(self.transport.path)


@dataclass(frozen=True)
class StoredSource(ImageSource):
    """A stored image: a reference, ``name@sha256:…``, a digest or an id prefix."""

    name: str
    # None when the name is no reference (an id prefix can be one, or not); the store's
    # resolution (resolve.py) decides what the name means.
    reference: Reference | None
    stored: ClassVar[bool] = True

    @classmethod
    def parse(cls, name: str) -> StoredSource:
        try:
            return cls(name, parse_reference(name))
        except InvalidReference:
            return cls(name, None)

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None,
             pull: PullOptions | None = None) -> Iterator[ImageView]:
        if pull is None or self.reference is None or _ID.match(self.name):
            yield store.get(self.name)
            return
        if pull.policy == "never":
            yield _stored_or_refused(store, self.name)
            return
        stored = _stored_or_none(store, self.name) if pull.policy != "always" else None
        if stored is not None:
            yield stored
            return
        # A command that takes registry images: a bare name the store lacks is docker://NAME.
        # Said so when the pull fails too: the name may be a typo of a stored one.
        with ExitStack() as stack:
            remote = RegistrySource(self.name, self.reference)
            try:
                image = stack.enter_context(remote.open(store, platform, pull))
            except ImageNotFound:
                raise
            except HardboxError as err:
                raise ImageNotFound(f"no image {self.name!r} in the store, and pulling "
                                    f"{self.reference} failed: {err.message}", err.hint,
                                    ) from None
            yield image

    @property
    def stem(self) -> str:
        return _reference_stem(self.name, self.reference)


@dataclass(frozen=True)
class RegistrySource(ImageSource):
    """``docker://REF``: an image in a registry, pulled on demand (module docstring)."""

    name: str
    reference: Reference
    # Lands in the store when run (gate --probe keeps what it pulls).
    stored: ClassVar[bool] = True

    @classmethod
    def parse(cls, name: str) -> RegistrySource | None:
        if not name.startswith(REGISTRY_PREFIX):
            return None
        return cls(name, parse_reference(name.removeprefix(REGISTRY_PREFIX)))

    @contextmanager
    def open(self, store: Store, platform: Platform | None = None,
             pull: PullOptions | None = None) -> Iterator[ImageView]:
        pull = pull or PullOptions()
        if pull.policy == "never":
            yield _stored_or_refused(store, str(self.reference), self.name)
            return
        if pull.policy == "missing":
            stored = _stored_or_none(store, str(self.reference))
            if stored is not None:
                yield stored
                return
        if pull.keep:
            yield self._pull(store, platform, pull)
            return
        with store.staging() as area:
            yield self._pull(Store.open(area / "store"), platform, pull)

    def _pull(self, store: Store, platform: Platform | None, options: PullOptions) -> ImageView:
        # Imported here: only a command that really pulls loads the HTTP layer.
        from hardbox.image.registry.client import connect
        from hardbox.image.registry.pull import pull

        client = connect(self.reference.domain, tls_verify=options.tls_verify)
        progress = options.progress(str(self.reference)) if options.progress else None
        try:
            return pull(store, client, self.reference, platform=platform,
                        progress=progress).image
        finally:
            if progress is not None:
                progress.finish()

    @property
    def stem(self) -> str:
        return _reference_stem(self.name, self.reference)


# Asked in this order; StoredSource takes every name, so it is last.
SOURCES: tuple[type[ImageSource], ...] = (DirSource, ArchiveSource, RegistrySource,
                                          StoredSource)


def parse_source(name: str) -> ImageSource:
    """The source ``name`` spells (see the module docstring)."""
    for kind in SOURCES:
        source = kind.parse(name)
        if source is not None:
            return source
    raise AssertionError(f"no image source takes {name!r}")  # StoredSource takes all


def open_image(name: str | ImageSource, store: Store, *, platform: Platform | None = None,
               pull: PullOptions | None = None) -> AbstractContextManager[ImageView]:
    """The image ``name`` names, for the length of the block; a string is parsed here."""
    source = name if isinstance(name, ImageSource) else parse_source(name)
    return source.open(store, platform, pull)


def stored_image(name: str, store: Store, pull: PullOptions) -> StoredImage:
    """The image ``name`` names, in ``store`` — pulled into it first when ``pull`` allows —
    for the commands that need it there (``run``, ``minimize``, ``image inspect``)."""
    source = parse_source(name)
    if not source.stored:
        raise InvalidImage(f"{name}: this command needs an image in the store",
                           f"import it first: hardbox image import {name}")
    keep = pull if pull.keep else PullOptions(pull.policy, True, pull.tls_verify, pull.progress)
    with source.open(store, None, keep) as image:
        return image


def dir_view(path: Path) -> ImageView:
    """An unpacked root filesystem as an image: one layer whose path is PATH, empty config."""
    if not path.is_dir():
        raise InvalidImage(f"{path}: dir: needs a directory (an unpacked root filesystem)")
    host = Platform.host()
    raw = {"os": host.os, "architecture": host.architecture,
           "rootfs": {"type": "layers", "diff_ids": []}}
    config = ImageConfig.from_obj(raw, f"dir:{path}")
    pseudo = sha256_bytes(str(path.resolve()).encode())
    layer = StoredLayer(index=0, diff_id=pseudo, digest=pseudo, media_type="dir", size=0,
                        created_by=f"dir:{path}", path=path)
    return StoredImage(id=sha256_bytes(b"{}"), manifest_digest="", tags=(), config=config,
                       layers=(layer,))


def _stored_or_none(store: Store, name: str) -> StoredImage | None:
    try:
        return store.get(name)
    except ImageNotFound:
        return None


def _stored_or_refused(store: Store, name: str, given: str | None = None) -> StoredImage:
    """``--pull never``: the stored image, or one line naming it and why it was not pulled."""
    try:
        return store.get(name)
    except ImageNotFound:
        raise ImageNotFound(
            f"no image {given or name!r} in the store {store.root}, and --pull never forbids "
            "pulling it",
            f"pull it first (`hardbox pull {given or name}`), or allow pulling (--pull missing; "
            "$HARDBOX_PULL sets the default)") from None


def _reference_stem(name: str, reference: Reference | None) -> str:
    if reference is None:
        return name
    repository = reference.path.rsplit("/", 1)[-1]
    return f"{repository}-{reference.tag or DEFAULT_TAG}"


def _file_stem(path: Path) -> str:
    """``/tmp/app.tar`` -> ``app``; ``.`` -> the directory's own name."""
    base = path.name or path.resolve().name
    return re.sub(r"\.(tar|tar\.gz|tgz)$", "", base)
