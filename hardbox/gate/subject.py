"""What the gate judges: one image as the scan saw it, reduced to the facts policies ask about.

``Subject.from_scan(result, config)`` is the seam to ``hardbox.scan``: the ``ScanResult`` gives
findings, packages (with licenses), the OS and the size; the image config gives what the scan
result does not carry (labels, volumes). Rules read only a ``Subject``, so each can be tested
on the facts it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hardbox.findings import Finding
from hardbox.scan.coverage import Coverage

if TYPE_CHECKING:
    from hardbox.image.formats.config import ImageConfig
    from hardbox.scan.result import ScanResult

# OCI image-spec annotations (annotations.md, "Pre-Defined Annotation Keys"); buildah and
# BuildKit also write them as labels.
BASE_NAME_LABEL = "org.opencontainers.image.base.name"


@dataclass(frozen=True)
class PackageFacts:
    name: str
    version: str
    ecosystem: str
    purl: str
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subject:
    name: str
    id: str
    user: str = ""
    size: int = 0
    os_id: str = ""
    os_version: str = ""
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    packages: tuple[PackageFacts, ...] = ()
    coverage: Coverage = field(default_factory=Coverage, compare=False)  # what matching checked

    @property
    def base_name(self) -> str | None:
        return self.labels.get(BASE_NAME_LABEL) or None

    @property
    def runs_as_root(self) -> bool:
        """No user, or uid/name 0/root (``USER root:wheel`` too): Docker's default is root."""
        user = self.user.split(":", 1)[0].strip()
        return user in ("", "0", "root")

    @classmethod
    def from_scan(cls, result: ScanResult, config: ImageConfig | None = None) -> Subject:
        image = result.image
        os: dict[str, Any] = image.os or {}
        return cls(
            name=image.name,
            id=image.id,
            user=image.user,
            size=image.size,
            os_id=str(os.get("id", "")),
            os_version=str(os.get("version_id", "")),
            labels=dict(config.labels) if config else {},
            exposed_ports=tuple(image.exposed_ports),
            volumes=tuple(config.volumes) if config else (),
            findings=tuple(result.findings),
            packages=tuple(
                PackageFacts(p.name, p.version, p.ecosystem, p.purl, tuple(p.licenses))
                for p in result.packages
            ),
            coverage=result.coverage,
        )

    def describe(self) -> str:
        return f"{self.name} ({self.id.split(':', 1)[-1][:12]})" if self.id else self.name
