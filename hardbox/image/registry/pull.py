"""``pull``: a registry image into the store, through the store's own import transaction.

The manifest (chosen from an index for the platform), then the config, are read whole and
verified; the layers the store lacks are downloaded in parallel (downloads.py) and handed
to ``Transaction.stage_entry`` as ``LayerSource`` streams, so a pull is verified, unpacked
and published exactly as an archive import is: every digest and diff_id checked, the import
size limits applied, nothing committed unless all of it checked out, and a blob the store
already has — from whatever repository or registry — neither downloaded nor unpacked again.
Layer downloads a pull did not finish stay in ``<store root>/partial-blobs/`` (mode 0700,
like the store) and the next pull resumes them with ``Range``.

A pull of an image the store holds under the asked-for name already (the manifest the
registry serves has the digest of a stored record, and the name points at it) is one
manifest request and no write; the import machinery is not even loaded (``hardbox pull``
of nothing new is start-up time and one round trip).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from hardbox.image._json import MAX_JSON_BYTES
from hardbox.image.digest import hex_of, sha256_bytes
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.manifest import Manifest
from hardbox.image.formats.platform import Platform
from hardbox.image.reference import Reference
from hardbox.image.registry.client import RegistryClient
from hardbox.image.registry.errors import BlobError, RegistryError
from hardbox.image.registry.manifests import choose, image_manifest, kind
from hardbox.image.store.images import StoredImage
from hardbox.image.store.store import Store

# (blob digest, bytes received, blob size): as downloads.LayerProgress
LayerProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Pulled:
    """One pulled image: the name asked for, the stored image, its manifest digest."""

    reference: str
    image: StoredImage
    manifest_digest: str

    def to_json(self) -> dict[str, str]:
        return {"reference": self.reference, "id": self.image.id,
                "digest": self.manifest_digest}


def resolve_manifest(client: RegistryClient, ref: Reference,
                     platform: Platform | None) -> tuple[bytes, str, Manifest]:
    """The image manifest ``ref`` names for ``platform`` (the host's by default):
    its bytes, digest and model. A digest reference pins that exact manifest (or index)."""
    repo = ref.path
    doc = client.manifest(repo, ref.digest or ref.tag or "latest")
    if kind(doc) == "index":
        desc = choose(doc, platform or Platform.host())
        doc = client.manifest(repo, desc.digest)
        if len(doc.data) != desc.size:
            raise BlobError(f"{doc.source}: {len(doc.data)} bytes, the index says {desc.size}")
        if kind(doc) != "manifest":
            raise RegistryError(f"{doc.source}: an index inside an index is not supported")
    return doc.data, doc.digest, image_manifest(doc)


def fetch_config(client: RegistryClient, repo: str, manifest: Manifest,
                 store: Store | None = None) -> bytes:
    """The config blob, verified: from ``store`` when it has it (a re-pull then costs the
    registry one manifest request), else from the registry."""
    desc = manifest.config
    if store is not None and store.has_blob(desc.digest):
        kept = store.blob_path(desc.digest).read_bytes()
        if sha256_bytes(kept) == desc.digest:
            return kept
    source = f"{client.host}/{repo}@{desc.digest}"
    if desc.size > MAX_JSON_BYTES:
        raise BlobError(f"{source}: config of {desc.size} bytes is over the limit")
    with client.blob(repo, desc.digest, size=desc.size) as resp:
        data = resp.read_all_or_none(desc.size)
    if data is None or len(data) != desc.size:
        raise BlobError(f"{source}: config is not the {desc.size} bytes the manifest says")
    if sha256_bytes(data) != desc.digest:
        raise BlobError(f"{source}: digest mismatch: the content is {sha256_bytes(data)}")
    return data


def pull(store: Store, client: RegistryClient, ref: Reference, *,
         platform: Platform | None = None, progress: LayerProgress | None = None,
         workers: int = 3) -> Pulled:
    """Pull ``ref`` from ``client``'s registry into ``store``; a tag reference is stored
    under its full name, a digest reference only by digest (it pins, it does not tag)."""
    repo = ref.path
    manifest_bytes, manifest_digest, manifest = resolve_manifest(client, ref, platform)
    names = (str(ref),) if ref.digest is None else ()
    if _already_stored(store, manifest_digest, names):
        return Pulled(str(ref), store.get(manifest_digest), manifest_digest)
    # Imported here: a pull of nothing new (above) needs none of the import machinery.
    from hardbox.image.formats.reader import Entry, LayerSource
    from hardbox.image.registry.downloads import Downloader
    from hardbox.image.store.transaction import Transaction

    config_bytes = fetch_config(client, repo, manifest, store)
    source = f"{client.host}/{repo}@{manifest_digest}"
    config = ImageConfig.from_json(config_bytes, f"{source} config")
    with store.writing(), store.staging() as stage:
        spool = stage / "pull"
        spool.mkdir()
        partials = store.partials  # what an interrupted pull left, resumed here
        partials.mkdir(mode=0o700, exist_ok=True)
        with Downloader(client, repo, spool, workers=workers, progress=progress,
                        partials=partials) as downloads:
            for layer in manifest.layers:
                if not store.has_blob(layer.digest):
                    downloads.start(layer.digest, layer.size)
            layers = tuple(
                LayerSource(source=f"{client.host}/{repo}@{layer.digest}", digest=layer.digest,
                            media_type=layer.media_type, size=layer.size,
                            open=partial(downloads.open, layer.digest))
                for layer in manifest.layers)
            entry = Entry(names, source, manifest, manifest_bytes, config, config_bytes, layers)
            txn = Transaction(store, stage, None, None)
            record = txn.stage_entry(entry)
            txn.commit([(record, names)])
        for layer in manifest.layers:
            (partials / f"{hex_of(layer.digest)}.part").unlink(missing_ok=True)
    return Pulled(str(ref), store.get(record.manifest), record.manifest)


def _already_stored(store: Store, manifest_digest: str, names: tuple[str, ...]) -> bool:
    """The store has a record for this manifest and every name points at it already."""
    if not store.record_path(manifest_digest).is_file():
        return False
    tags = store.tags()
    return all(tags.get(name) == manifest_digest for name in names)
