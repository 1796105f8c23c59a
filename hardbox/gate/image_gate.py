"""The one way to gate an image: open it (pulled when the pull options allow), scan it as
``hardbox scan`` does, build the policy's rules and judge it.

``hardbox gate IMAGE`` judges the image it names; ``hardbox gate --k8s MANIFEST --images``
judges every image a manifest's workloads run through this same ``ImageGate``, so an image
is held to one standard whichever command asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hardbox.dockerfile.lint import LintResult
from hardbox.gate.evaluate import GateResult, evaluate
from hardbox.gate.exceptions import GateException
from hardbox.gate.policy import Policy
from hardbox.gate.rules import GateRule, build_rules
from hardbox.gate.subject import Subject
from hardbox.gate.vex import VexStatement

if TYPE_CHECKING:
    from hardbox.image.source import ImageSource, PullOptions
    from hardbox.image.store.store import Store


@dataclass(frozen=True)
class ImageGate:
    """What an image is judged by, every input already read and validated: the policy,
    exceptions, VEX statements, a linted Dockerfile, extra rules (the profile checks) and
    the vulnerability index (None: the scan goes on without one, and the policy decides)."""

    policy: Policy
    exceptions: tuple[GateException, ...] = ()
    vex: tuple[VexStatement, ...] = ()
    lint: LintResult | None = None
    extra_rules: tuple[GateRule, ...] = ()
    db: Path | None = None

    def judge(self, source: ImageSource, store: Store, pull: PullOptions | None) -> GateResult:
        """Open ``source`` (for the block only: a temporary store is removed after), scan it
        and decide. Raises the ``HardboxError`` of an image that cannot be obtained or read."""
        from hardbox.scan.scanner import ScanOptions, scan

        with source.open(store, pull=pull) as image:
            result = scan(image, self.db, ScanOptions(name=source.name))
            subject = Subject.from_scan(result, image.config)
        rules = [*build_rules(self.policy, self.lint, vuln_db=result.vuln_db is not None,
                              db_problem=empty_db(result.vuln_db)), *self.extra_rules]
        return evaluate(subject, self.policy, rules, self.exceptions, self.vex, notes=result.notes)


def empty_db(path: str | None) -> str | None:
    """Why the scan's vulnerability database cannot clear an image: it holds no advisory
    (issue 16: an empty index must fail HB-GATE-011 like a missing one)."""
    from hardbox.scan.vulndb import open_db

    if path is None:
        return None
    with open_db(Path(path)) as index:
        if index.live_advisories() == 0:
            return f"the vulnerability database {path} holds no advisories"
    return None
