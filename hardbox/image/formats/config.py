"""The image configuration (OCI image-spec config.md; Docker's is the same JSON), validated.

``ImageConfig`` holds what the rest of hardbox reads — the process defaults (user, env,
entrypoint, cmd, working dir), declared ports and volumes, labels, the healthcheck, the
platform, the history and ``rootfs.diff_ids`` — and keeps the whole document as ``raw`` so
nothing the image said is lost on export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hardbox.image import _json
from hardbox.image.digest import check_digest


@dataclass(frozen=True)
class HistoryEntry:
    """One ``history`` item. ``empty_layer`` entries (ENV, CMD, …) made no layer."""

    created: str | None
    created_by: str
    comment: str
    empty_layer: bool

    @classmethod
    def from_obj(cls, obj: object, source: str, field_name: str) -> HistoryEntry:
        if not isinstance(obj, dict):
            raise _json.bad(source, field_name, "must be an object")
        return cls(
            created=_json.get(obj, "created", str, source, f"{field_name}.created"),
            created_by=_json.get(obj, "created_by", str, source, f"{field_name}.created_by", ""),
            comment=_json.get(obj, "comment", str, source, f"{field_name}.comment", ""),
            empty_layer=_json.get(obj, "empty_layer", bool, source,
                                  f"{field_name}.empty_layer", False),
        )


@dataclass(frozen=True)
class HealthCheck:
    """Docker's HEALTHCHECK: ``test`` is ``["NONE"]``, ``["CMD", …]`` or ``["CMD-SHELL", cmd]``;
    durations are nanoseconds, as Docker stores them."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @classmethod
    def from_obj(cls, obj: dict[str, Any], source: str, field_name: str) -> HealthCheck:
        test = _json.str_list(obj, "Test", source, f"{field_name}.Test") or ()
        values = {
            name: _json.get(obj, key, int, source, f"{field_name}.{key}", 0)
            for name, key in (("interval", "Interval"), ("timeout", "Timeout"),
                              ("start_period", "StartPeriod"), ("retries", "Retries"))
        }
        return cls(test, **values)


@dataclass(frozen=True)
class ImageConfig:
    """A validated image config. Absent fields are empty, never ``None``, except the
    optional scalars (``user`` is ``""`` when the image names none: run as root)."""

    os: str
    architecture: str
    variant: str | None = None
    created: str | None = None
    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    stop_signal: str | None = None
    healthcheck: HealthCheck | None = None
    history: tuple[HistoryEntry, ...] = ()
    diff_ids: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: bytes, source: str) -> ImageConfig:
        return cls.from_obj(_json.load_object(data, source), source)

    @classmethod
    def from_obj(cls, obj: dict[str, Any], source: str) -> ImageConfig:
        rootfs = _json.get(obj, "rootfs", dict, source, "rootfs", required=True)
        if rootfs.get("type") != "layers":
            raise _json.bad(source, "rootfs.type", f"must be 'layers', found {rootfs.get('type')!r}")
        ids = _json.get(rootfs, "diff_ids", list, source, "rootfs.diff_ids", [])
        diff_ids = tuple(
            check_digest(d, source, f"rootfs.diff_ids[{i}]") for i, d in enumerate(ids)
        )
        history_list = _json.get(obj, "history", list, source, "history", [])
        history = tuple(
            HistoryEntry.from_obj(h, source, f"history[{i}]") for i, h in enumerate(history_list)
        )
        c = _json.get(obj, "config", dict, source, "config", {})
        health = _json.get(c, "Healthcheck", dict, source, "config.Healthcheck")
        return cls(
            os=_json.get(obj, "os", str, source, "os", required=True),
            architecture=_json.get(obj, "architecture", str, source, "architecture",
                                   required=True),
            variant=_json.get(obj, "variant", str, source, "variant"),
            created=_json.get(obj, "created", str, source, "created"),
            user=_json.get(c, "User", str, source, "config.User", ""),
            env=_json.str_list(c, "Env", source, "config.Env") or (),
            entrypoint=_json.str_list(c, "Entrypoint", source, "config.Entrypoint") or (),
            cmd=_json.str_list(c, "Cmd", source, "config.Cmd") or (),
            working_dir=_json.get(c, "WorkingDir", str, source, "config.WorkingDir", ""),
            exposed_ports=_json.key_set(c, "ExposedPorts", source, "config.ExposedPorts"),
            volumes=_json.key_set(c, "Volumes", source, "config.Volumes"),
            labels=_json.str_map(c, "Labels", source, "config.Labels"),
            stop_signal=_json.get(c, "StopSignal", str, source, "config.StopSignal"),
            healthcheck=(HealthCheck.from_obj(health, source, "config.Healthcheck")
                         if health is not None else None),
            history=history,
            diff_ids=diff_ids,
            raw=obj,
        )

    def layer_history(self) -> list[HistoryEntry | None]:
        """For each diff_id, oldest first, the history entry that made it (None if the
        image has no history, or its history does not align)."""
        made: list[HistoryEntry | None] = [None] * len(self.diff_ids)
        for entry, layer in zip(self.history, aligned_layers(self.history, len(self.diff_ids)), strict=True):
            if layer is not None:
                made[layer] = entry
        return made


def aligned_layers(history: Sequence[HistoryEntry], layer_count: int) -> list[int | None]:
    """For each history entry, the index of the layer it made: None for empty entries, and
    for all when the entries that made layers are not exactly ``layer_count`` (image-spec
    config.md, "history": the n-th entry that is not ``empty_layer`` made the n-th layer).
    The one place that rule lives: the store, ``image history`` and the scan all ask here."""
    made = sum(1 for entry in history if not entry.empty_layer)
    if made != layer_count:
        return [None] * len(history)
    out: list[int | None] = []
    next_layer = 0
    for entry in history:
        if entry.empty_layer:
            out.append(None)
        else:
            out.append(next_layer)
            next_layer += 1
    return out
