"""Image names with a transport prefix, spelled as skopeo spells them.

``docker-archive:PATH[:REF]``, ``oci:DIR[:REF]``, ``oci-archive:PATH[:REF]``, ``dir:PATH``,
or a bare path (``PATH`` or ``PATH:REF``) whose format is detected. Anything else is not a
transport name, and is looked up in the store as a reference. ``source.parse_source`` turns
a name into the typed ``ImageSource`` every command passes down; ``image import`` parses
its PATH here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hardbox.errors import InvalidImage
from hardbox.named_input import require_file_or_dir

DIR_PREFIX = "dir"
PREFIXES = ("docker-archive", "oci", "oci-archive", DIR_PREFIX)


@dataclass(frozen=True)
class Transport:
    kind: str  # one of PREFIXES, or "path" (detect the format)
    path: Path
    ref: str | None = None


def _split_ref(text: str) -> tuple[Path, str | None]:
    """``PATH`` if it exists, else ``PATH:REF`` when the part before the last ``:`` does."""
    if Path(text).exists() or ":" not in text:
        return Path(text), None
    head, ref = text.rsplit(":", 1)
    if ref and Path(head).exists():
        return Path(head), ref
    return Path(text), None


def parse_transport(name: str) -> Transport | None:
    """The transport ``name`` spells, or None when it is not a transport or existing path."""
    prefix, sep, rest = name.partition(":")
    if sep and prefix in PREFIXES:
        if prefix == DIR_PREFIX:
            return Transport(DIR_PREFIX, require_file_or_dir(rest))
        path, ref = _split_ref(rest)
        if not require_file_or_dir(path).exists():
            raise InvalidImage(f"{path}: no such file or directory ({name})")
        return Transport(prefix, path, ref)
    path, ref = _split_ref(name)
    if require_file_or_dir(path).exists():
        return Transport("path", path, ref)
    if "/" in name and (name.startswith((".", "/")) or name.endswith(".tar")):
        # Clearly meant as a path; saying "no such image" would mislead.
        raise InvalidImage(f"{name}: no such file or directory")
    return None
