"""``hardbox lint Dockerfile``: static checks of a Dockerfile before it is built.

Thin: parse the options, call ``hardbox.dockerfile.lint_file``, render with the gate's
formats (a lint run is a decision with one rule per lint rule), print. Exit 0 when no finding
reaches ``--fail-on`` (default ``high``), 1 when one does, 2 when the Dockerfile is unusable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hardbox.cli.output import add_report_arguments

DEFAULT_FAIL_ON = "high"
# The reports lint writes, each a --FORMAT FILE option.
REPORTS = {
    "json": "findings as JSON ({path, fail_on, passed, findings: [{rule, severity, line, "
            "message, fix, path}]}); - for stdout",
    "sarif": "SARIF 2.1.0 (code-scanning annotations on the Dockerfile lines)",
    "junit": "JUnit XML, one test case per rule",
    "markdown": "Markdown summary",
}

_DESCRIPTION = """\
Check a Dockerfile before it is built, with BuildKit's own parser (continuations, heredocs,
the escape directive, JSON and shell forms). Each finding has a rule id, a severity, the line
in the Dockerfile and a fix. Rules: FROM with latest or no tag, MAINTAINER, no USER or a root
USER last, secrets in ARG/ENV, ADD where COPY fits or of an unverified URL, package installs
without cache cleanup or version pins, EXPOSE 22 and SSH servers, shell-form ENTRYPOINT/CMD,
sudo, curl | sh, upgrades in the build. `docs/gate.md` lists them all.

The default --fail-on is high: lint fails a build only for what is a security defect by itself
(runs as root, a secret, a download piped into a shell); lower findings are printed and go in
the reports. Use --fail-on medium (or low) to be stricter."""

_EPILOG = """\
examples:
  hardbox lint Dockerfile
  hardbox lint app/Dockerfile --fail-on medium --sarif lint.sarif --junit lint.xml
  hardbox lint Dockerfile --json - | jq '.findings[] | select(.severity=="high")'

exit codes: 0 no finding at or above --fail-on; 1 at least one; 2 the Dockerfile is unusable
(unreadable, not UTF-8, an unknown instruction, an unterminated heredoc)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lint", help="check a Dockerfile before it is built", description=_DESCRIPTION,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("dockerfile", metavar="Dockerfile", help="the Dockerfile to check")
    p.add_argument("--fail-on", metavar="SEVERITY", default=DEFAULT_FAIL_ON,
                   help=f"exit 1 when a finding is this severe or worse (default: {DEFAULT_FAIL_ON})")
    add_report_arguments(p, REPORTS)
    p.set_defaults(func=handler, _parser=p)


def handler(args: argparse.Namespace) -> int:
    import json

    from hardbox.cli.output import report_targets, write_reports
    from hardbox.dockerfile.lint import RULES, lint_file
    from hardbox.findings import Severity
    from hardbox.gate import junit, markdown, sarif
    from hardbox.gate.evaluate import from_lint

    targets = report_targets(args, REPORTS)
    fail_on = Severity.parse(args.fail_on)
    result = lint_file(args.dockerfile)
    decision = from_lint(result, fail_on, RULES)
    failing = result.at_or_above(fail_on)
    body = {**result.to_dict(), "fail_on": fail_on.value, "passed": not failing}
    to_stdout = write_reports(targets, {
        "json": lambda: json.dumps(body, indent=2, sort_keys=True) + "\n",
        "sarif": lambda: sarif.render(decision),
        "junit": lambda: junit.render(decision, suite="hardbox lint"),
        "markdown": lambda: markdown.render(decision, title="hardbox lint"),
    })
    out = sys.stderr if to_stdout else sys.stdout
    for f in result.findings:
        mark = "FAIL" if f in failing else "    "
        out.write(f"{mark} {f.path}:{f.line}: {f.rule} [{f.severity.value}] {f.message}\n       fix: {f.fix}\n")
    verdict = "failed" if failing else "passed"
    out.write(f"hardbox lint: {verdict}: {len(result.findings)} findings, {len(failing)} at or above {fail_on.value}\n")
    return 1 if failing else 0
