"""``hardbox gate IMAGE``: the pre-deploy decision in CI — scan, judge by a policy, exit.

Thin: read every input the user named first (policy, exceptions, VEX, Dockerfile, profile),
so a bad one fails with exit 2 before any work; then judge the image through the one image
gate (``gate/image_gate.ImageGate``: open, scan, the policy's rules, evaluate), render each
requested report and print what failed and why.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from hardbox.cli.inputs import add_db_argument, add_pull_arguments
from hardbox.cli.options import add_command
from hardbox.cli.output import add_report_arguments

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hardbox.gate.evaluate import GateResult

# The reports gate writes, each a --FORMAT FILE option.
REPORTS = {
    "json": "the decision as JSON (schema hardbox.gate, docs/gate.md); - for stdout",
    "sarif": "SARIF 2.1.0 of the findings behind the decision",
    "junit": "JUnit XML: one test case per policy rule",
    "markdown": "Markdown summary (PR comment, CI job summary)",
}

_DESCRIPTION = """\
Decide whether IMAGE may ship. The image is scanned (as `hardbox scan` does) and judged by a
policy: severity thresholds for vulnerabilities (by default only those with a fix count),
forbidden findings (secrets, running as root, setuid files, an SSH server, ...), required
labels, a maximum size, allowed base images and OS, allowed and denied licenses (SPDX ids),
and whether the image can run under a hardbox profile — statically, and with --probe by
really running a command in it under that profile.

Without --policy the shipped default applies: it fails an image that holds a secret, runs as
root, or has a critical or high vulnerability with a fix available. Reviewed exceptions (each
with a reason, an approver and an expiry date) and VEX documents (OpenVEX, CycloneDX) waive
findings; an expired exception waives nothing and is reported. docs/gate.md is the policy
reference."""

_EPILOG = """\
examples:
  hardbox gate myapp:1.4
  hardbox gate docker-archive:app.tar --policy policies/gate/example-strict.yaml \\
      --exceptions gate-exceptions.yaml --vex app.openvex.json --junit gate.xml --sarif gate.sarif
  hardbox gate myapp:1.4 --dockerfile Dockerfile --markdown "$GITHUB_STEP_SUMMARY"
  hardbox gate myapp:1.4 --profile strict --probe '/app --self-test'
  hardbox gate --k8s deploy/app.yaml --sarif k8s.sarif   Kubernetes manifests (docs/kubernetes.md)
  hardbox gate --k8s deploy/app.yaml --images --pull missing   ... and every image they run

exit codes: 0 the image passes; 1 it fails the policy (every failed rule is printed with the
findings behind it); 2 an input is unusable (image, policy, exceptions, VEX, Dockerfile,
profile, manifest) or an option is wrong. With --k8s --images, 1 also when any image fails or
cannot be obtained (HB-GATE-013: pulling it failed, or it is not stored under --pull never).
Without a vulnerability database a policy with a vulnerabilities rule fails (import one with
`hardbox db import`)."""


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "gate", handler,
                    help="decide whether an image may ship (policy, exceptions, VEX; CI reports)",
                    description=_DESCRIPTION, epilog=_EPILOG)
    p.add_argument("image", metavar="IMAGE", nargs="?",
                   help="stored image (name, name@digest, id prefix), docker://REF (a registry image; so is a name the store lacks) or docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH, dir:PATH")
    p.add_argument("--k8s", metavar="MANIFEST", help="check the workloads of a Kubernetes manifest (Pod, Deployment, "
                   "StatefulSet, DaemonSet, Job, CronJob; multi-document YAML) instead of an image: Pod Security "
                   "Standards and the policy's kubernetes section (docs/kubernetes.md)")
    p.add_argument("--images", action="store_true", help="with --k8s: also gate every image the workloads' "
                   "containers run, once each, as `gate IMAGE` would (the same policy, exceptions, --db, --vex; "
                   "pulled per --pull into a temporary store); an image that cannot be obtained fails")
    p.add_argument("--policy", metavar="FILE", help="gate policy YAML (default: the shipped policies/gate/default.yaml)")
    p.add_argument("--exceptions", metavar="FILE", help="exceptions YAML: reviewed waivers with expiry dates")
    p.add_argument("--vex", metavar="FILE", action="append", default=[],
                   help="OpenVEX or CycloneDX VEX JSON; repeat for several")
    add_db_argument(p, "vulnerability index (default: <store>/db/osv.sqlite)")
    p.add_argument("--dockerfile", metavar="FILE", help="also lint this Dockerfile; findings at or above the policy's dockerfile.fail_on (default high) fail the gate")
    p.add_argument("--profile", metavar="NAME", help="check the image against this hardbox profile (overrides the policy's)")
    p.add_argument("--probe", metavar="CMD", help="run CMD (with /bin/sh -c, replacing the image's ENTRYPOINT, as minimize --probe does) in the image under the profile; must exit 0. Needs a stored image")
    add_report_arguments(p, REPORTS)
    add_pull_arguments(p, temporary=True)


def handler(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import pull_options, vuln_db
    from hardbox.cli.output import report_targets
    from hardbox.dockerfile.lint import lint_file
    from hardbox.errors import UsageError
    from hardbox.gate.exceptions import load_exceptions
    from hardbox.gate.image_gate import ImageGate
    from hardbox.gate.policy import load_policy
    from hardbox.gate.profile_check import profile_rules
    from hardbox.gate.rules import GateRule
    from hardbox.gate.vex import load_vex
    from hardbox.image.source import parse_source
    from hardbox.image.store.store import Store

    if args.images and args.k8s is None:
        raise UsageError("--images gates the images of a manifest: it goes with --k8s MANIFEST")
    if args.k8s is not None:
        from hardbox.cli.gate_k8s import handle_k8s

        return handle_k8s(args, REPORTS, publish)
    if args.image is None:
        raise UsageError("gate needs an IMAGE or --k8s MANIFEST")
    targets = report_targets(args, REPORTS)
    # Every named input is read before the image is touched: a bad one is exit 2, no work done.
    policy = load_policy(args.policy)
    exceptions = load_exceptions(args.exceptions) if args.exceptions else ()
    vex = tuple(s for path in args.vex for s in load_vex(path))
    lint = lint_file(args.dockerfile) if args.dockerfile else None
    profile_name = args.profile or (policy.profile.name if policy.profile else None)
    probe = args.probe or (policy.profile.probe if policy.profile else None)
    source = parse_source(args.image)
    if probe and not source.stored:
        raise UsageError(f"a probe runs a stored image; {source.name} is a file",
                         hint=f"import it first: hardbox image import {source.name}")
    extra_rules: list[GateRule] = []
    if profile_name or probe:
        extra_rules = profile_rules(profile_name or "default", probe, source.name)

    gate = ImageGate(policy, tuple(exceptions), vex, lint, tuple(extra_rules), vuln_db(args.db, required=False))
    # A probe runs the image from the store, so an image pulled for one is kept there.
    decision = gate.judge(source, Store.open(), pull_options(args, keep=bool(probe)))

    return publish(targets, decision)


def publish(targets: Mapping[str, str], decision: GateResult) -> int:
    """Write every report of ``decision`` to its target, print what failed (to stderr when a
    report went to stdout), and give the exit status: 0 passed, 1 failed. `gate IMAGE` and
    `gate --k8s` both end here, so they write the same reports and the same CI log."""
    import json

    from hardbox.cli.output import write_reports
    from hardbox.gate import junit, markdown, sarif

    to_stdout = write_reports(targets, {
        "json": lambda: json.dumps(decision.to_dict(), indent=2, sort_keys=True) + "\n",
        "sarif": lambda: sarif.render(decision),
        "junit": lambda: junit.render(decision),
        "markdown": lambda: markdown.render(decision),
    })
    (sys.stderr if to_stdout else sys.stdout).write(summary(decision))
    return 0 if decision.passed else 1


def summary(decision: GateResult) -> str:
    """What a developer reads in the CI log: each failed rule, the findings behind it, the fix."""
    verdict = "PASSED" if decision.passed else "FAILED"
    lines = [f"hardbox gate: {decision.image} {verdict} policy {decision.policy} ({decision.policy_source})"]
    for rule in decision.rules:
        lines.append(f"  {'pass' if rule.passed else 'FAIL'}  {rule.description}")
        for f in rule.failing:
            pkg = f" {f.package} {f.version or ''}".rstrip() if f.package else ""
            where = f" at {f.detail}" if f.extra.get("source") == "dockerfile" else (f" at {f.path}" if f.path else "")
            where += f":{f.line}" if f.line and f.extra.get("source") == "kubernetes" else ""
            lines.append(f"          [{f.severity.value}] {f.id}{pkg}: {f.title}{where}")
            if f.detail and f.detail != f.title and f.extra.get("source") != "dockerfile":
                lines.append(f"            {' '.join(f.detail.split())[:300]}")
            if f.fix:
                lines.append(f"            fix: {f.fix}")
        for w in rule.excepted:
            lines.append(f"          waived {w.finding.id}: {w.by}")
        for w in rule.vex_suppressed:
            lines.append(f"          not affected {w.finding.id}: {w.by}")
    for e in decision.expired_exceptions:
        lines.append(f"  expired exception (not applied): {e.describe()} from {e.source}:{e.line}")
    lines += [f"  note: {n}" for n in decision.notes]
    failed = len(decision.failed_rules)
    lines.append(f"{failed} of {len(decision.rules)} rules failed" if failed else f"all {len(decision.rules)} rules passed")
    return "\n".join(lines) + "\n"
