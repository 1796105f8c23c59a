"""Which stored image a user's string names, in Docker's order of precedence.

A full digest names a manifest or, failing that, an image id (config digest); then the
string as a reference — a tag, or ``name@sha256:<manifest digest>``; last, a unique prefix
of an image id, with or without ``sha256:``. ``abc`` is a valid image name and a valid id
prefix: as in Docker, the tag wins.
"""

from __future__ import annotations

import re
from pathlib import Path

from hardbox.errors import ImageNotFound, InvalidReference
from hardbox.image import reference
from hardbox.image.digest import hex_of, is_digest
from hardbox.image.store.images import ImageRecord

_HEX_PREFIX = re.compile(r"^(?:sha256:)?([a-f0-9]{1,64})$")


def resolve(ref: str, records: dict[str, ImageRecord], tags: dict[str, str], root: Path) -> str:
    """The manifest digest ``ref`` names among ``records``; ``ImageNotFound`` if none."""
    text = ref.strip()
    if is_digest(text):
        if text in records:
            return text
        by_id = sorted(m for m, r in records.items() if r.config == text)
        if by_id:
            return by_id[0]
    parsed: reference.Reference | None = None
    parse_error: InvalidReference | None = None
    try:
        parsed = reference.parse(text)
    except InvalidReference as err:
        parse_error = err
    if parsed is not None:
        if parsed.digest is not None:
            if parsed.digest in records:
                return parsed.digest
        elif (found := tags.get(str(parsed))) is not None and found in records:
            return found
    match = _HEX_PREFIX.match(text)
    if match:
        prefix = match.group(1)
        hits = {m: r.config for m, r in records.items() if hex_of(r.config).startswith(prefix)}
        if len(set(hits.values())) > 1:
            raise InvalidReference(
                f"image id prefix {prefix!r} is ambiguous: it matches "
                f"{len(set(hits.values()))} images", "give more digits of the id")
        if hits:
            return sorted(hits)[0]
    if parse_error is not None and not match:
        raise parse_error
    raise ImageNotFound(f"no image {ref!r} in the store {root}")
