"""Image references, normalised as Docker normalises them.

``bbtest`` and ``bbtest:latest`` both name ``docker.io/library/bbtest:latest``;
``quay.io/org/app@sha256:…`` keeps its digest. The grammar is the one of
distribution/reference: a domain is the first component when it contains ``.`` or ``:`` or
is ``localhost``; path components are lower-case alphanumerics joined by separators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardbox.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?$")


@dataclass(frozen=True, order=True)
class Reference:
    """A fully normalised reference: domain, path, and a tag and/or a digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``docker.io/library/busybox``: the repository, without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """The short form Docker prints: ``busybox:latest``, ``quay.io/org/app:1``."""
        path = self.path
        if self.domain == DEFAULT_DOMAIN:
            text = path.removeprefix(OFFICIAL_PREFIX)
        else:
            text = f"{self.domain}/{path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; raise ``InvalidReference`` naming what is wrong."""
    original = text
    if not text or len(text) > 255 + 128 + 72:
        raise InvalidReference(f"invalid image reference {original!r}: empty or too long")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReference(
                f"invalid image reference {original!r}: digest must be sha256:<64 hex digits>"
            )
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid image reference {original!r}: bad tag {tag!r}")
    parts = text.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, parts = parts[0], parts[1:]
        if not _DOMAIN.match(domain):
            raise InvalidReference(f"invalid image reference {original!r}: bad registry {domain!r}")
    else:
        domain = DEFAULT_DOMAIN
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    for part in parts:
        if not _COMPONENT.match(part):
            raise InvalidReference(
                f"invalid image reference {original!r}: {part!r} must be lower-case letters, "
                "digits and separators"
            )
    path = "/".join(parts)
    if domain == DEFAULT_DOMAIN and len(parts) == 1:
        path = OFFICIAL_PREFIX + path
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))
