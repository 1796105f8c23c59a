"""``hardbox gate --k8s MANIFEST``: the gate for Kubernetes manifests before they are applied.

Thin, as ``gate`` is: read the policy, the exceptions and the manifest (a bad one is exit 2
before any work), build one rule per control the policy asks for, evaluate, write the same
reports ``gate`` writes and print what failed. Exit 0 pass, 1 fail, 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardbox.gate.evaluate import GateResult

# Options that choose or judge an image: they have no meaning for a manifest.
_IMAGE_OPTIONS = (("image", "IMAGE"), ("dockerfile", "--dockerfile"), ("profile", "--profile"),
                  ("probe", "--probe"), ("db", "--db"), ("vex", "--vex"))


def handle_k8s(args: argparse.Namespace, reports: Mapping[str, str], summary: Callable[[GateResult], str]) -> int:
    """``gate``'s handler for ``--k8s``; ``reports`` and ``summary`` are ``gate``'s own, so
    both paths write the same reports and the same CI log."""
    import json

    from hardbox.cli.output import report_targets, write_reports
    from hardbox.errors import UsageError
    from hardbox.gate import junit, markdown, sarif
    from hardbox.gate.evaluate import evaluate
    from hardbox.gate.exceptions import load_exceptions
    from hardbox.gate.k8s.manifests import load_manifests
    from hardbox.gate.k8s.rules import k8s_rules
    from hardbox.gate.policy import load_policy
    from hardbox.gate.subject import Subject

    given = [flag for attr, flag in _IMAGE_OPTIONS if getattr(args, attr, None) not in (None, [], False)]
    if given:
        raise UsageError(f"--k8s checks a manifest, not an image: {', '.join(given)} cannot go with it")
    targets = report_targets(args, reports)
    policy = load_policy(args.policy)
    exceptions = load_exceptions(args.exceptions) if args.exceptions else ()
    manifests = load_manifests(args.k8s)
    rules = k8s_rules(manifests, policy.kubernetes)
    checked = ", ".join(f"{w.describe()} (document {w.number})" for w in manifests.workloads)
    notes = [f"checked {checked}", *(f"not checked: {n}" for n in manifests.not_checked)]
    if policy.kubernetes.pod_security == "privileged" and not rules:
        notes.append("the policy asks for no Kubernetes check (pod_security: privileged, require: [])")
    decision = evaluate(Subject(name=str(manifests.path), id=""), policy, rules, exceptions, notes=notes)

    to_stdout = write_reports(targets, {
        "json": lambda: json.dumps(decision.to_dict(), indent=2, sort_keys=True) + "\n",
        "sarif": lambda: sarif.render(decision),
        "junit": lambda: junit.render(decision),
        "markdown": lambda: markdown.render(decision),
    })  # fmt: skip
    (sys.stderr if to_stdout else sys.stdout).write(summary(decision))
    return 0 if decision.passed else 1
