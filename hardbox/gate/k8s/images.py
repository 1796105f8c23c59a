"""The images a manifest's workloads run, judged for ``hardbox gate --k8s MANIFEST --images``.

Each distinct image (by its normalised reference: ``nginx`` and
``docker.io/library/nginx:latest`` are one) is judged once by the image gate
(``image_gate.ImageGate``, the path ``hardbox gate IMAGE`` takes), however many containers
name it. Its rule results then join the manifest's decision with every finding moved onto
the manifest: the manifest's path and the line of each ``image:`` field naming the image
(SARIF's region), the image named in the title, and where in the image the finding was (its
file, its layer) kept.

An ``image:`` field is a Kubernetes image reference and is read only as one: a transport
spelling (``docker-archive:/path``, ``dir:/``), a bare path or anything else that is not a
reference is never opened — a manifest must not make the gate read files of the host. Such
an image, a container with no image, and an image that cannot be obtained (not stored under
``--pull never``, a registry error, a damaged image) fail closed: one ``HB-GATE-013`` finding
per container naming the image and why, and a note saying what was not checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hardbox.errors import HardboxError, InvalidReference
from hardbox.findings import Finding, Severity
from hardbox.gate.evaluate import GateResult, RuleResult, Waived, evaluate
from hardbox.gate.exceptions import GateException
from hardbox.gate.k8s.manifests import Keys, Manifests, Workload
from hardbox.gate.policy import Policy
from hardbox.gate.rules import Callback, gate_finding
from hardbox.gate.subject import Subject
from hardbox.image.reference import parse as parse_reference
from hardbox.image.source import StoredSource

UNCHECKED_ID = "HB-GATE-013"


@dataclass(frozen=True)
class ImageUse:
    """One container naming an image: its workload and where it is below the pod spec."""

    workload: Workload
    keys: Keys  # ("containers", 0)

    @property
    def field(self) -> str:
        return self.workload.field((*self.keys, "image"))

    @property
    def line(self) -> int:
        return self.workload.line((*self.keys, "image"))

    def describe(self) -> str:
        list_name, index = self.keys
        return f"{self.workload.describe()} {list_name}[{index}] (line {self.line})"


@dataclass(frozen=True)
class ManifestImage:
    """An image as the manifest names it: the name to open (as first spelled), every
    container that names it, and why it cannot be opened at all ("" when it can)."""

    name: str
    uses: tuple[ImageUse, ...]
    problem: str = ""

    def source(self) -> StoredSource:
        """The image as ``hardbox gate NAME`` opens a bare reference: from the store, and
        pulled when ``--pull`` allows (``StoredSource.open``)."""
        return StoredSource.parse(self.name)


def manifest_images(manifests: Manifests) -> tuple[ManifestImage, ...]:
    """Every distinct image of every workload's containers, initContainers and
    ephemeralContainers, in the order the manifest first names them."""
    uses: dict[str, list[ImageUse]] = {}
    spelled: dict[str, str] = {}
    problems: dict[str, str] = {}
    for workload in manifests.workloads:
        for keys, _ in workload.containers():
            name = workload.get((*keys, "image"), str) or ""  # another type: exit 2, naming the line
            key, problem = _key(name)
            uses.setdefault(key, []).append(ImageUse(workload, keys))
            spelled.setdefault(key, name)
            if problem:
                problems[key] = problem
    return tuple(ManifestImage(spelled[key], tuple(found), problems.get(key, "")) for key, found in uses.items())


def _key(name: str) -> tuple[str, str]:
    """(what makes two names one image, why the name cannot be opened)."""
    if not name.strip():
        return "", "the container names no image"
    try:
        return str(parse_reference(name)), ""
    except InvalidReference as err:
        return f"invalid:{name}", f"not an image reference ({err.message})"


@dataclass(frozen=True)
class ImageDecisions:
    """What the images add to the manifest's decision: their rules, moved onto the manifest,
    and notes (what was checked, what was not, each image's scan notes)."""

    rules: tuple[RuleResult, ...]
    notes: tuple[str, ...]


def judge_images(images: tuple[ManifestImage, ...], judge: Callable[[StoredSource], GateResult],
                 policy: Policy, exceptions: tuple[GateException, ...]) -> ImageDecisions:
    """Judge each image with ``judge`` (the image gate, opening and scanning it); an image
    that cannot be opened or read is decided by a rule that fails closed instead, under the
    same exceptions."""
    rules: list[RuleResult] = []
    notes: list[str] = []
    for image in images:
        why, fix = image.problem, _NOT_A_REFERENCE
        decision = None
        if not why:
            try:
                decision = judge(image.source())
            except HardboxError as err:
                why, fix = err.message, err.hint or _NOT_OBTAINED
        if decision is None:
            decision = evaluate(Subject(name=image.name, id=""), policy, [_unchecked(why, fix)], exceptions)
            notes.append(f"not checked: image {image.name or '(none)'} of "
                         f"{', '.join(u.describe() for u in image.uses)}: {why}")
        else:
            short = decision.image_id.split(":", 1)[-1][:12]
            notes.append(f"checked image {image.name} ({short}) for {_count(image.uses)}")
            notes += [f"image {image.name}: {note}" for note in decision.notes]
        rules += [_moved(rule, image, decision.image_id) for rule in decision.rules]
    if not images:
        notes.append("no container names an image")
    return ImageDecisions(tuple(rules), tuple(notes))


def _count(uses: tuple[ImageUse, ...]) -> str:
    return "1 container" if len(uses) == 1 else f"{len(uses)} containers"


_NOT_A_REFERENCE = "name the image by a registry reference: [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]"
_NOT_OBTAINED = "make the image available (`hardbox pull REF`, or --pull missing) and check the registry"


def _unchecked(why: str, fix: str) -> Callback:
    """The rule an image that could not be checked fails: never a silent pass. ``fix`` is
    the hint of the error that stopped it (what to do about --pull never, a registry's
    refusal), or what to do about the image field."""
    finding = gate_finding(UNCHECKED_ID, f"not checked: {why}", fix, Severity.HIGH)
    return Callback("checked", "could be obtained and scanned", lambda _subject: [finding])


def _moved(rule: RuleResult, image: ManifestImage, image_id: str) -> RuleResult:
    """``rule`` of one image's decision, its findings repeated at each container naming the image."""

    def move(findings: tuple[Finding, ...]) -> Iterator[Finding]:
        for finding in findings:
            for use in image.uses:
                yield _onto(finding, image, image_id, use)

    def move_waived(waived: tuple[Waived, ...]) -> tuple[Waived, ...]:
        return tuple(Waived(f, w.by) for w in waived for f in move((w.finding,)))

    label = image.name or "(none)"
    return RuleResult(
        name=f"image[{label}]/{rule.name}", description=f"image {label}: {rule.description}",
        failing=tuple(move(rule.failing)), excepted=move_waived(rule.excepted),
        vex_suppressed=move_waived(rule.vex_suppressed), notices=tuple(move(rule.notices)),
    )  # fmt: skip


def _onto(finding: Finding, image: ManifestImage, image_id: str, use: ImageUse) -> Finding:
    """``finding`` of ``image`` as a finding of the manifest at ``use``'s ``image:`` line."""
    w = use.workload
    inside = f"{finding.path} in the image" if finding.path else ""
    extra = {**finding.extra, "source": "kubernetes", "object": f"{w.kind}/{w.name}", "field": use.field,
             "image": image.name, "image_fingerprint": finding.fingerprint()}
    if image_id:
        extra["image_id"] = image_id
    if finding.path:
        extra["image_path"] = finding.path
    return dataclasses.replace(
        finding, title=f"{finding.title} (image {image.name or '(none)'})",
        detail="; ".join(part for part in (inside, finding.detail) if part),
        path=str(w.path), line=use.line, extra=extra,
    )  # fmt: skip
