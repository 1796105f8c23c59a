"""Typed field access for untrusted JSON, raising ``InvalidImage`` that names file and field.

Every manifest, index and config an image carries is hostile input; the models in
``model.py`` and ``config.py`` read them only through these helpers, so a wrong type is one
clear line (``blobs/sha256/ab…: config.Env[2] must be a string``), never a ``KeyError``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from hardbox import jsondoc
from hardbox.errors import InvalidImage

T = TypeVar("T")

# Manifests and configs are small; a multi-megabyte one is an attack on the parser.
MAX_JSON_BYTES = 8 << 20


def load_object(data: bytes, source: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object, refusing anything else."""
    if len(data) > MAX_JSON_BYTES:
        raise InvalidImage(f"{source}: JSON document larger than {MAX_JSON_BYTES} bytes")
    obj = load_any(data, source)
    if not isinstance(obj, dict):
        raise InvalidImage(f"{source}: expected a JSON object, found {type(obj).__name__}")
    return obj


def load_any(data: bytes, source: str) -> Any:
    """Parse ``data`` as JSON of any shape, nesting at most ``jsondoc.MAX_DEPTH`` levels."""
    try:
        return jsondoc.loads(data)
    except jsondoc.TooDeep as err:
        raise InvalidImage(f"{source}: {err}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidImage(f"{source}: not valid JSON ({err})") from None


def bad(source: str, field: str, what: str) -> InvalidImage:
    return InvalidImage(f"{source}: {field} {what}")


def get(obj: dict[str, Any], key: str, kind: type[T], source: str, field: str,
        default: T | None = None, *, required: bool = False) -> T:
    """``obj[key]`` checked to be a ``kind``; JSON ``null`` counts as absent (Docker writes
    ``"Cmd": null``)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise bad(source, field, "is missing")
        return default  # type: ignore[return-value]
    # bool is an int in Python; a JSON true where a size belongs is still wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad(source, field, f"must be {_kind_name(kind)}, found {type(value).__name__}")
    return value


def str_list(obj: dict[str, Any], key: str, source: str, field: str) -> tuple[str, ...] | None:
    value = get(obj, key, list, source, field)
    if value is None:
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise bad(source, f"{field}[{i}]", "must be a string")
    return tuple(value)


def str_map(obj: dict[str, Any], key: str, source: str, field: str) -> dict[str, str]:
    value = get(obj, key, dict, source, field, {})
    for k, v in value.items():
        if not isinstance(v, str):
            raise bad(source, f"{field}[{k!r}]", "must be a string")
    return dict(value)


def key_set(obj: dict[str, Any], key: str, source: str, field: str) -> tuple[str, ...]:
    """Docker's ``{"80/tcp": {}}`` sets (ExposedPorts, Volumes) as a sorted tuple of keys."""
    value = get(obj, key, dict, source, field, {})
    return tuple(sorted(value))


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", dict: "an object",
            bool: "true or false"}.get(kind, kind.__name__)
