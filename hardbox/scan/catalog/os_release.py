"""The image's operating system, from os-release(5): ``/etc/os-release``, else
``/usr/lib/os-release``.

It names the distribution twice over: as the purl ``distro`` qualifier of OS packages
(``distro=debian-12``, as the purl spec's deb/apk/rpm examples spell it) and as the OSV
ecosystem its advisories are filed under (``Debian:12``, ``Alpine:v3.19``) for vulndb.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from hardbox.findings import LayerRef
from hardbox.scan.walk import MergedView

_CANDIDATES = ("/etc/os-release", "/usr/lib/os-release")
_MAX_SIZE = 64 * 1024

# OSV ecosystem names (ossf.github.io/osv-schema, "Defined ecosystems") by os-release ID.
_OSV_NAMES = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alpine": "Alpine",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "opensuse-leap": "openSUSE",
    "photon": "Photon OS",
    "wolfi": "Wolfi",
    "chainguard": "Chainguard",
}


@dataclass(frozen=True)
class OSRelease:
    id: str
    version_id: str = ""
    name: str = ""
    pretty_name: str = ""
    version_codename: str = ""
    id_like: tuple[str, ...] = ()
    path: str = ""
    layer: LayerRef | None = None

    @property
    def purl_distro(self) -> str:
        """``debian-12``, ``alpine-3.19.1``: the purl ``distro`` qualifier."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id

    @property
    def osv_ecosystem(self) -> str | None:
        """The OSV ecosystem of this release's advisories, or None when OSV has none."""
        base = _OSV_NAMES.get(self.id)
        if base is None or not self.version_id:
            return None
        if self.id == "debian":
            return f"Debian:{self.version_id.split('.')[0]}"
        if self.id == "alpine":
            major_minor = ".".join(self.version_id.split(".")[:2])
            return f"Alpine:v{major_minor}"
        if self.id in ("wolfi", "chainguard"):
            return base
        if self.id in ("rocky", "almalinux"):
            return f"{base}:{self.version_id.split('.')[0]}"
        return f"{base}:{self.version_id}"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "name": self.name,
            "pretty_name": self.pretty_name,
            "version_codename": self.version_codename,
            "purl_distro": self.purl_distro,
            "osv_ecosystem": self.osv_ecosystem,
            "path": self.path,
        }


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=VALUE lines with shell quoting (os-release(5)); lines that do not parse are skipped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:  # unbalanced quotes: a broken line, not a broken file
            continue
        fields[key.strip()] = " ".join(words)
    return fields


def read_os_release(view: MergedView) -> OSRelease | None:
    """The OS of the merged view, or None for an image without os-release (distroless
    static images, scratch)."""
    for candidate in _CANDIDATES:
        # /etc/os-release is usually a relative symlink to ../usr/lib/os-release: follow it
        # through the view so it cannot leave the image.
        entry = view.resolve(candidate)
        if entry is None or not entry.is_file:
            continue
        try:
            fields = parse_os_release(entry.read_text(_MAX_SIZE))
        except (OSError, ValueError):
            continue
        os_id = fields.get("ID", "").strip().lower()
        if not os_id:
            continue
        return OSRelease(
            id=os_id,
            version_id=fields.get("VERSION_ID", ""),
            name=fields.get("NAME", ""),
            pretty_name=fields.get("PRETTY_NAME", ""),
            version_codename=fields.get("VERSION_CODENAME", ""),
            id_like=tuple(fields.get("ID_LIKE", "").split()),
            path=entry.path,
            layer=entry.layer,
        )
    return None
