"""Platforms (os/arch/variant): the host's, parsing ``--platform``, and matching an index entry.

Architecture names are Go's GOARCH values, as the OCI image-index spec requires; the host's
``uname -m`` is mapped to them. Variants follow the containerd convention: ``arm64`` means
``arm64/v8`` and ``arm`` without a variant matches any ``arm`` variant only when asked loosely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hardbox.errors import UsageError
from hardbox.image import _json

# uname -m -> (GOARCH, variant)
_MACHINE = {
    "x86_64": ("amd64", None), "amd64": ("amd64", None),
    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i386": ("386", None), "i686": ("386", None),
    "ppc64le": ("ppc64le", None), "s390x": ("s390x", None), "riscv64": ("riscv64", None),
}
_DEFAULT_VARIANT = {"arm64": "v8"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @classmethod
    def host(cls) -> Platform:
        machine = os.uname().machine
        arch, variant = _MACHINE.get(machine, (machine, None))
        return cls("linux", arch, variant)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64``, ``linux/arm/v7``: what ``--platform`` takes."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"invalid --platform {text!r}: expected OS/ARCH[/VARIANT], "
                             "e.g. linux/amd64 or linux/arm/v7")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def from_obj(cls, obj: dict[str, Any], source: str, field: str) -> Platform:
        os_ = _json.get(obj, "os", str, source, f"{field}.os", required=True)
        arch = _json.get(obj, "architecture", str, source, f"{field}.architecture", required=True)
        variant = _json.get(obj, "variant", str, source, f"{field}.variant")
        return cls(os_, arch, variant or None)

    def to_obj(self) -> dict[str, str]:
        obj = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            obj["variant"] = self.variant
        return obj

    def matches(self, offered: Platform) -> bool:
        """Whether an index entry for ``offered`` satisfies a request for ``self``.

        A request without a variant takes any variant of the architecture; ``arm64`` and
        ``arm64/v8`` are the same platform.
        """
        if (self.os, self.architecture) != (offered.os, offered.architecture):
            return False
        if self.variant is None:
            return True
        default = _DEFAULT_VARIANT.get(offered.architecture)
        return self.variant == (offered.variant or default)
