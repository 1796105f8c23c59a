"""Rewrite real image layouts and archives with one document or layer replaced, digests kept
consistent, so that a damaged document reaches the parser that reads it instead of stopping
at the digest check in front of it (which the byte-damage examples exercise separately)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> str:
    digest = sha(data)
    (layout / "blobs/sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return digest


def documents(layout: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(index, manifest, config) of a one-image layout as umoci wrote it."""
    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads(_read(layout, index["manifests"][0]["digest"]))
    config = json.loads(_read(layout, manifest["config"]["digest"]))
    return index, manifest, config


def _read(layout: Path, digest: str) -> bytes:
    return (layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes()


def copy_layout(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def replace_in_layout(
    layout: Path,
    *,
    index: bytes | None = None,
    manifest: bytes | None = None,
    config: bytes | None = None,
    layers: list[bytes] | None = None,
) -> None:
    """Replace documents of ``layout`` in place; each parent is re-pointed at its child's new
    digest when the parent is one of the originals (a replaced parent stays as given)."""
    orig_index, orig_manifest, orig_config = documents(layout)
    if layers is not None:
        orig_manifest["layers"] = []
        orig_config["rootfs"] = {"type": "layers", "diff_ids": []}
        orig_config["history"] = []
        for blob in layers:
            gz = blob[:2] == b"\x1f\x8b"
            raw = gzip.decompress(blob) if gz else blob
            orig_manifest["layers"].append({
                "mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else ""),
                "digest": _blob(layout, blob),
                "size": len(blob),
            })
            orig_config["rootfs"]["diff_ids"].append(sha(raw))
            orig_config["history"].append({"created_by": "fuzz layer"})
    if config is None:
        config = json.dumps(orig_config).encode()
    orig_manifest["config"]["digest"] = _blob(layout, config)
    orig_manifest["config"]["size"] = len(config)
    if manifest is None:
        manifest = json.dumps(orig_manifest).encode()
    orig_index["manifests"][0]["digest"] = _blob(layout, manifest)
    orig_index["manifests"][0]["size"] = len(manifest)
    if index is None:
        index = json.dumps(orig_index).encode()
    (layout / "index.json").write_bytes(index)


def tar_dir(src: Path, out: Path) -> Path:
    """An OCI layout as an oci-archive (a plain tar of the layout directory)."""
    with tarfile.open(out, "w") as archive:
        for path in sorted(src.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(src)), recursive=False)
    return out


def rewrite_docker_archive(
    src: Path, out: Path, *, manifest_json: bytes | None = None, config: bytes | None = None
) -> Path:
    """skopeo's docker-archive with ``manifest.json`` and/or the config replaced; a new
    config is stored under its own digest's name and manifest.json points at it."""
    with tarfile.open(src) as archive:
        members = [(m, archive.extractfile(m).read() if m.isfile() else b"") for m in archive]  # type: ignore[union-attr]
    files = {m.name: data for m, data in members}
    entries = json.loads(files["manifest.json"])
    if config is not None:
        name = sha(config).removeprefix("sha256:") + ".json"
        old = entries[0]["Config"]
        members = [(m, d) for m, d in members if m.name != old]
        info = tarfile.TarInfo(name)
        info.size = len(config)
        members.append((info, config))
        entries[0]["Config"] = name
    new_manifest = manifest_json if manifest_json is not None else json.dumps(entries).encode()
    with tarfile.open(out, "w") as archive:
        for member, data in members:
            if member.name == "manifest.json":
                member = tarfile.TarInfo("manifest.json")
                data = new_manifest
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return out
