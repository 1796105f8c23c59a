"""What a bundle's rootfs lacks of its image, for ``DIR/hardbox-bundle.json`` (issue 18).

Two sources: the device nodes ``bundle_rootfs.merge_layers`` left out (in the merged view: a
later layer may delete or replace one), and what the store recorded beside each unpacked
layer (``<layer dir>.json``, docs/architecture.md "Unpacked layer format"): the device nodes
it keeps as data instead of creating them, and the entries it skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hardbox.runtime.profile.bundle_rootfs import LeftOut, Merged, device_reason


def _layer_record(layer_dir: Path) -> dict[str, Any]:
    """What the store recorded beside a layer dir (docs/architecture.md, "Unpacked layer
    format"); empty for a layer that has none (``dir:PATH``) or an unreadable one."""
    try:
        record = json.loads(Path(f"{layer_dir}.json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _entries(record: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = record.get(key)
    return [e for e in value if isinstance(e, dict) and isinstance(e.get("name"), str)] if isinstance(value, list) else []


def _image_path(name: str) -> str:
    return os.path.normpath("/" + name.lstrip("/"))  # normpath keeps a leading "//"


def recorded_devices(layer_dir: Path, index: int) -> list[LeftOut]:
    """The device nodes the store kept as data for this layer (it never creates them)."""
    return [
        LeftOut(_image_path(d["name"]), index, device_reason(str(d.get("kind")), d["major"], d["minor"]))
        for d in _entries(_layer_record(layer_dir), "devices")
        if isinstance(d.get("major"), int) and isinstance(d.get("minor"), int)
    ]


def left_out_record(image: Any, merged: Merged) -> list[dict[str, str]]:
    """The image's entries the rootfs lacks: its device nodes (merged view: a later layer
    may delete or replace one), then what the store skipped when it unpacked each layer."""
    out = [{"path": n.path, "layer": image.layers[n.layer].diff_id, "reason": n.reason}
           for n in sorted(merged.left_out.values(), key=lambda n: n.path)]
    for layer in image.layers:
        for entry in _entries(_layer_record(layer.path), "skipped"):
            out.append({"path": _image_path(entry["name"]), "layer": layer.diff_id,
                        "reason": str(entry.get("reason", ""))})
    return out
