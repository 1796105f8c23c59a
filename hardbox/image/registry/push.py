"""``push``: an image from the store to a registry, on the same ``RegistryClient`` as pull.

The store keeps every blob the stored manifest names (config and layers, compressed or —
for an image imported from a docker-archive — plain tars), so a push sends exactly those
bytes and that manifest: the manifest digest the registry serves is the one the store has.
For each blob, in the distribution spec's order (docs/spec/api.md, "Pushing An Image"):

1. ``HEAD /v2/<repo>/blobs/<digest>``: a blob the registry already has is skipped;
2. a mount (``POST …/blobs/uploads/?mount=<digest>&from=<repo>``) when the store knows
   another repository of the same registry holding the blob (from its stored images' tags):
   201 means done without sending a byte, 202 is an upload session to use instead;
3. an upload: ``POST`` then one ``PUT ?digest=`` for a blob up to ``CHUNK`` bytes, or
   ``PATCH`` chunks of ``CHUNK`` bytes with ``Content-Range`` and a closing ``PUT``.

The manifest goes last, ``PUT /v2/<repo>/manifests/<tag>`` with its own media type.
Tokens are asked for ``pull,push`` on the destination; a mount's challenge names ``pull``
on the source as well, and auth.py asks for every scope a challenge names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from hardbox.errors import InvalidReference, StoreError
from hardbox.image.formats.manifest import Descriptor, Manifest
from hardbox.image.reference import Reference
from hardbox.image.reference import parse as parse_reference
from hardbox.image.registry.client import RegistryClient
from hardbox.image.registry.errors import AuthError, RegistryError
from hardbox.image.store.images import StoredImage
from hardbox.image.store.store import FSCK_HINT, Store
from hardbox.net import Response

# Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size (so at most
# this much of a layer is in memory at a time).
CHUNK = 16 << 20
# (digest, bytes sent, total) after each request that sent bytes.
PushProgress = Callable[[str, int, int], None]


@dataclass
class Pushed:
    """What a push did: the reference, the manifest digest, and each blob's fate."""

    reference: str
    digest: str
    uploaded: list[str] = field(default_factory=list)
    mounted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest,
                "uploaded": self.uploaded, "mounted": self.mounted, "existing": self.existing}


def push(store: Store, client: RegistryClient, image: StoredImage, dest: Reference, *,
         progress: PushProgress | None = None, chunk: int = CHUNK) -> Pushed:
    """Push ``image`` to ``dest`` (a tag, or the image's own manifest digest) on
    ``client``'s registry; blobs the registry has are skipped, blobs another repository of
    it holds are mounted. Blobs over ``chunk`` bytes go up in chunks of that size."""
    if dest.digest is not None and dest.digest != image.manifest_digest:
        raise RegistryError(f"cannot push {image.manifest_digest} as {dest}: a digest "
                            "reference names other content", "push to a tag instead")
    manifest_bytes = store.read_blob(image.manifest_digest)
    manifest = Manifest.from_json(manifest_bytes, str(store.blob_path(image.manifest_digest)))
    repo = dest.path
    scope = f"repository:{repo}:pull,push"
    sources = _mount_sources(store, dest)
    result = Pushed(str(dest), image.manifest_digest)
    for desc in (manifest.config, *manifest.layers):
        path = store.blob_path(desc.digest)
        if not path.is_file():
            raise StoreError(f"store {store.root}: blob {desc.digest} is missing", FSCK_HINT)
        if _exists(client, repo, scope, desc.digest):
            result.existing.append(desc.digest)
            continue
        location = None
        if desc.digest in sources:
            # One try: a 202 is an upload session already open, to be used, not wasted.
            location = _mount(client, repo, sources[desc.digest][0], desc.digest)
            if location is None:
                result.mounted.append(desc.digest)
                continue
        _upload(client, repo, scope, desc, path, location, progress, chunk)
        result.uploaded.append(desc.digest)
    _put_manifest(client, repo, scope, dest.digest or dest.tag or "latest",
                  manifest.media_type, manifest_bytes, image.manifest_digest)
    return result


def _mount_sources(store: Store, dest: Reference) -> dict[str, list[str]]:
    """Blob digest -> other repositories of ``dest``'s registry that the store saw it in."""
    records = store.records()
    found: dict[str, list[str]] = {}
    for name, manifest_digest in store.tags().items():
        record = records.get(manifest_digest)
        try:
            ref = parse_reference(name)
        except InvalidReference:  # a damaged tag costs a mount, never the push
            continue
        if record is None or ref.domain != dest.domain or ref.path == dest.path:
            continue
        for digest in (record.config, *(layer.digest for layer in record.layers)):
            repos = found.setdefault(digest, [])
            if ref.path not in repos:
                repos.append(ref.path)
    return found


def _exists(client: RegistryClient, repo: str, scope: str, digest: str) -> bool:
    with client.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope) as resp:
        if resp.status in (200, 404):
            return resp.status == 200
        _fail(resp, f"{client.host}/{repo}@{digest}", "HEAD blob")
    return False


def _mount(client: RegistryClient, repo: str, source: str, digest: str) -> str | None:
    """None when mounted (201); else the upload session the registry opened (202)."""
    query = urlencode({"mount": digest, "from": source})
    scope = f"repository:{repo}:pull,push repository:{source}:pull"
    with client.request("POST", f"/v2/{repo}/blobs/uploads/?{query}", scope,
                        {"Content-Length": "0"}, body=b"") as resp:
        if resp.status == 201:
            return None
        if resp.status == 202:
            return _location(client, resp, repo)
        _fail(resp, f"{client.host}/{repo}@{digest} (mount from {source})", "mount")
    raise AssertionError("unreachable")


def _upload(client: RegistryClient, repo: str, scope: str, desc: Descriptor, path: Path,
            location: str | None, progress: PushProgress | None, chunk: int) -> None:
    source = f"{client.host}/{repo}@{desc.digest}"
    if location is None:
        with client.request("POST", f"/v2/{repo}/blobs/uploads/", scope,
                            {"Content-Length": "0"}, body=b"") as resp:
            if resp.status != 202:
                _fail(resp, source, "start upload")
            location = _location(client, resp, repo)
    size = path.stat().st_size
    octets = {"Content-Type": "application/octet-stream"}
    if size <= chunk:
        final_body = path.read_bytes()
    else:
        sent = 0
        for piece in _chunks(path, chunk):
            headers = {**octets, "Content-Length": str(len(piece)),
                       "Content-Range": f"{sent}-{sent + len(piece) - 1}"}
            with client.request("PATCH", location, scope, headers, body=piece) as resp:
                if resp.status != 202:
                    _fail(resp, source, "upload chunk")
                location = _location(client, resp, repo)
            sent += len(piece)
            if progress:
                progress(desc.digest, sent, size)
        final_body = b""
    put = _with_query(location, {"digest": desc.digest})
    with client.request("PUT", put, scope, {**octets, "Content-Length": str(len(final_body))},
                        body=final_body) as resp:
        if resp.status != 201:
            _fail(resp, source, "finish upload")
    if progress:
        progress(desc.digest, size, size)


def _put_manifest(client: RegistryClient, repo: str, scope: str, ref: str, media_type: str,
                  data: bytes, digest: str) -> None:
    source = f"{client.host}/{repo}:{ref}"
    with client.request("PUT", f"/v2/{repo}/manifests/{ref}", scope,
                        {"Content-Type": media_type, "Content-Length": str(len(data))},
                        body=data) as resp:
        if resp.status != 201:
            _fail(resp, source, "put manifest")
        claimed = resp.header("Docker-Content-Digest")
    if claimed and claimed != digest:
        raise RegistryError(f"{source}: the registry stored the manifest as {claimed}, "
                            f"not {digest}")


def _chunks(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while piece := fh.read(size):
            yield piece


def _location(client: RegistryClient, resp: Response, repo: str) -> str:
    """The upload session's ``Location`` as a path on the registry (absolute or relative,
    as the spec allows); one that leaves the registry is refused, since the request would
    carry the registry's credentials there."""
    location = resp.header("Location")
    if not location:
        raise RegistryError(f"{client.host}/{repo}: upload answered without a Location")
    parts = urlsplit(location)
    if parts.netloc and parts.netloc != urlsplit(client.base()).netloc:
        raise RegistryError(f"{client.host}/{repo}: upload session on another host "
                            f"({parts.netloc[:80]}) is not supported")
    if not parts.path.startswith("/v2/"):
        raise RegistryError(f"{client.host}/{repo}: upload Location {location[:100]!r} "
                            "is not under /v2/")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_query(path: str, params: dict[str, str]) -> str:
    return path + ("&" if "?" in path else "?") + urlencode(params)


def _fail(resp: Response, source: str, what: str) -> None:
    detail = (resp.read_all_or_none(4096) or b"").decode("utf-8", "replace")
    detail = " ".join(detail.split())[:200]
    if resp.status in (401, 403):
        raise AuthError(f"{source}: {what}: access denied (HTTP {resp.status})",
                        "log in with `hardbox login REGISTRY` with an account that may push")
    raise RegistryError(f"{source}: {what}: HTTP {resp.status}" + (f" {detail}" if detail else ""))
