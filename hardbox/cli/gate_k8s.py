"""``hardbox gate --k8s MANIFEST``: the gate for Kubernetes manifests before they are applied.

Thin, as ``gate`` is: read the policy, the exceptions and the manifest (a bad one is exit 2
before any work), build one rule per control the policy asks for, evaluate, write the same
reports ``gate`` writes and print what failed. Exit 0 pass, 1 fail, 2 unusable input.

With ``--images`` every image the workloads run also goes through the image gate
(``gate/k8s/images.py``): the same policy, exceptions, ``--db`` and ``--vex``, each image
opened as ``gate IMAGE`` opens a reference (``--pull``, a temporary store), and its rules join
the one decision.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardbox.gate.evaluate import GateResult
    from hardbox.gate.exceptions import GateException
    from hardbox.gate.image_gate import ImageGate
    from hardbox.gate.k8s.manifests import Manifests
    from hardbox.gate.policy import Policy

# Options that choose or judge an image: they have no meaning for a manifest. With --images
# the manifest's images are judged, so the vulnerability database and VEX apply to them.
_IMAGE_OPTIONS = (("image", "IMAGE"), ("dockerfile", "--dockerfile"), ("profile", "--profile"),
                  ("probe", "--probe"))
_IMAGES_OPTIONS = (("db", "--db"), ("vex", "--vex"))


def handle_k8s(args: argparse.Namespace, reports: Mapping[str, str],
               publish: Callable[[Mapping[str, str], GateResult], int]) -> int:
    """``gate``'s handler for ``--k8s``; ``reports`` and ``publish`` are ``gate``'s own, so
    both paths write the same reports and the same CI log."""
    from hardbox.cli.output import report_targets
    from hardbox.errors import UsageError
    from hardbox.gate.evaluate import evaluate
    from hardbox.gate.exceptions import load_exceptions
    from hardbox.gate.k8s.manifests import load_manifests
    from hardbox.gate.k8s.rules import k8s_rules
    from hardbox.gate.policy import load_policy
    from hardbox.gate.subject import Subject

    refused = _IMAGE_OPTIONS if args.images else _IMAGE_OPTIONS + _IMAGES_OPTIONS
    given = [flag for attr, flag in refused if getattr(args, attr, None) not in (None, [], False)]
    if given:
        raise UsageError(f"--k8s checks a manifest, not an image: {', '.join(given)} cannot go with it",
                         hint="--db and --vex go with --images, which gates the manifest's images too"
                         if not args.images else None)
    targets = report_targets(args, reports)
    policy = load_policy(args.policy)
    exceptions = load_exceptions(args.exceptions) if args.exceptions else ()
    gate = _image_gate(args, policy, exceptions) if args.images else None
    manifests = load_manifests(args.k8s)
    rules = k8s_rules(manifests, policy.kubernetes)
    checked = ", ".join(f"{w.describe()} (document {w.number})" for w in manifests.workloads)
    notes = [f"checked {checked}", *(f"not checked: {n}" for n in manifests.not_checked)]
    if policy.kubernetes.pod_security == "privileged" and not rules:
        notes.append("the policy asks for no Kubernetes check (pod_security: privileged, require: [])")
    decision = evaluate(Subject(name=str(manifests.path), id=""), policy, rules, exceptions, notes=notes)
    if gate is not None:
        decision = _with_images(decision, manifests, gate, args)

    return publish(targets, decision)


def _image_gate(args: argparse.Namespace, policy: Policy, exceptions: tuple[GateException, ...]) -> ImageGate:
    """The image gate every image of the manifest goes through, its inputs (VEX, the
    database) read before any work, as ``gate IMAGE`` reads them."""
    from hardbox.cli.inputs import pull_policy, vuln_db
    from hardbox.gate.image_gate import ImageGate
    from hardbox.gate.vex import load_vex
    from hardbox.scan.vulndb import open_db

    pull_policy(args)  # a bad $HARDBOX_PULL is exit 2 before any image is opened
    vex = tuple(s for path in args.vex for s in load_vex(path))
    db = vuln_db(args.db, required=False)
    if db is not None:
        # Opened once here: an index that is no database is exit 2, as for `gate IMAGE`,
        # not a reason each image could not be checked.
        with open_db(db):
            pass
    return ImageGate(policy, exceptions, vex, db=db)


def _with_images(decision: GateResult, manifests: Manifests, gate: ImageGate,
                 args: argparse.Namespace) -> GateResult:
    """``decision`` with the rules of every image the manifest runs, judged by ``gate``."""
    import dataclasses

    from hardbox.cli.inputs import pull_options
    from hardbox.gate.k8s.images import judge_images, manifest_images
    from hardbox.image.store.store import Store

    store, pull = Store.open(), pull_options(args, keep=False)
    images = judge_images(manifest_images(manifests), lambda source: gate.judge(source, store, pull),
                          gate.policy, gate.exceptions)
    return dataclasses.replace(decision, rules=decision.rules + images.rules, notes=decision.notes + images.notes)
