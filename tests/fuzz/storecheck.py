"""The store consistency check the fuzz and fault tests run after every input.

Uses the store's own check, ``hardbox.image.store.fsck.check_store(root)`` (issue 16 item
16), when it exists; until then a minimal check of the same promises the store's docstring
makes (image/store/store.py): every blob hashes to its name, every record's manifest,
config and layers are present, every tag names a record, nothing half-written is visible
outside ``tmp/``, and the store opens and lists its images.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def check_store(root: Path) -> list[str]:
    """Problems found in the store at ``root`` (empty: consistent). A store that was never
    created is consistent."""
    if not root.exists():
        return []
    try:
        from hardbox.image.store.fsck import check_store as store_fsck
    except ImportError:
        return _minimal_check(root)
    return _problems(store_fsck(root))


def _problems(report: object) -> list[str]:
    """The store's own report, as a list of problems, whatever shape it takes."""
    if report is None:
        return []
    for name in ("problems", "errors", "damaged"):
        value = getattr(report, name, None)
        if value is not None:
            return [str(p) for p in value]
    if isinstance(report, list | tuple):
        return [str(p) for p in report]
    ok = getattr(report, "ok", None)
    if ok is not None:
        return [] if ok else [str(report)]
    return []


def _minimal_check(root: Path) -> list[str]:
    problems: list[str] = []
    blobs = root / "blobs" / "sha256"
    layers = root / "layers"
    for blob in sorted(blobs.iterdir()) if blobs.is_dir() else ():
        digest = hashlib.sha256()
        with open(blob, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != blob.name:
            problems.append(f"blob {blob.name}: content hashes to {digest.hexdigest()}")
    records: set[str] = set()
    for path in sorted((root / "images").glob("*.json")):
        try:
            record = json.loads(path.read_bytes())
            manifest, config = record["manifest"], record["config"]
            record_layers = record["layers"]
        except (ValueError, KeyError, TypeError) as err:
            problems.append(f"record {path.name}: unreadable ({err})")
            continue
        records.add(manifest)
        for digest in (manifest, config, *(layer["digest"] for layer in record_layers)):
            if not (blobs / digest.removeprefix("sha256:")).is_file():
                problems.append(f"record {path.name}: blob {digest} missing")
        for layer in record_layers:
            hex_ = layer["diff_id"].removeprefix("sha256:")
            if not (layers / hex_).is_dir() or not (layers / f"{hex_}.json").is_file():
                problems.append(f"record {path.name}: layer {layer['diff_id']} missing")
    tags_file = root / "tags.json"
    if tags_file.exists():
        try:
            tags = json.loads(tags_file.read_bytes())
        except ValueError as err:
            problems.append(f"tags.json: unreadable ({err})")
            tags = {}
        for name, manifest in tags.items():
            if manifest not in records:
                problems.append(f"tag {name}: names {manifest}, which has no record")
    for entry in sorted(layers.iterdir()) if layers.is_dir() else ():
        if entry.is_dir() and not (layers / f"{entry.name}.json").is_file():
            problems.append(f"layer {entry.name}: unpacked without its .json (half-written)")
    if not problems:
        # The store's own reader must agree: open it and list every image.
        from hardbox.image.store.store import Store

        try:
            Store.open(root).images()
        except Exception as err:  # any failure here is the finding
            problems.append(f"Store.open(root).images(): {type(err).__name__}: {err}")
    return problems


def assert_consistent(root: Path) -> None:
    problems = check_store(root)
    assert not problems, f"store {root} inconsistent:\n" + "\n".join(problems)
