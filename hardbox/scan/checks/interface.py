"""The checks seam: misconfiguration and secret checks that read an image during the one walk.

This module is the interface (``Check`` and what a check is given; ``Rule`` is
``rules.py``'s); it imports no check family. The registry, ``CHECKS``, is the package's
``__init__``.

A ``Check`` is a walk visitor (``name``, ``wants``, ``visit``; docs/architecture.md, "scan:
one walk, many readers") that also knows the image's configuration and, once the walk is
done, returns its findings. Each check family (``config``, ``files``, ``secrets``) lives in
its own module and reports the ``Rule``s listed under its name in policies/checks/rules.yaml:
id, title, severity, why it matters and how to fix it. The rules are what SARIF's
``tool.driver.rules`` and docs/adding-a-check.md list, so a rule id is defined exactly once.

Every check family is registered in ``CHECKS``; a test fails when one is missing, when two
rules share an id, or when a rule is not documented. docs/adding-a-check.md is the checklist.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from hardbox.findings import Finding, LayerRef
from hardbox.scan.checks.rules import Rule, family_rules

if TYPE_CHECKING:
    from hardbox.image.formats.config import ImageConfig
    from hardbox.image.layers.unpack import DeviceNode
    from hardbox.scan.walk import ImageFile


@dataclass(frozen=True)
class HistoryStep:
    """One build step (a ``history`` entry) with the layer it made, if it made one."""

    index: int
    created_by: str
    layer: LayerRef | None


@dataclass(frozen=True)
class ImageContext:
    """What a check knows about the image besides its files: the name the user gave, its
    tags, the validated config, its layers (oldest first, ``created_by`` already scrubbed)
    and the build history, made from the image prepared once when it was opened
    (``hardbox.scan.prepare``, ``hardbox.scan.scanner.check_context``)."""

    name: str
    config: ImageConfig
    layers: tuple[LayerRef, ...]
    tags: tuple[str, ...] = ()
    steps: tuple[HistoryStep, ...] = field(default=())
    devices: tuple[tuple[LayerRef, DeviceNode], ...] = ()  # what each layer's record lists


@dataclass(frozen=True)
class CheckOptions:
    """Knobs a scan passes to every check."""

    secrets: bool = True  # read file contents for secrets
    config: bool = True  # the image has a config to check (a dir: root filesystem has none)


class Check(ABC):
    """Base of every check family. Subclasses set ``name`` ("checks/config") and implement
    ``findings``; file checks also ``wants``/``visit``. ``rules`` reads the family's rules
    from the table (the secret check's come from the secret rules instead). A fresh
    instance is made for every walk."""

    name: ClassVar[str]

    def __init__(self, image: ImageContext, options: CheckOptions) -> None:
        self.image = image
        self.options = options

    @classmethod
    def rules(cls) -> tuple[Rule, ...]:
        """Every rule this family can report: its rows of policies/checks/rules.yaml."""
        return family_rules(cls.name)

    def wants(self, path: str) -> bool:
        return False

    def visit(self, file: ImageFile) -> None:
        return None

    @abstractmethod
    def findings(self) -> list[Finding]:
        """The findings, once the walk is done."""
