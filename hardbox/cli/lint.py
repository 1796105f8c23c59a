"""``hardbox lint Dockerfile``: static checks of a Dockerfile before it is built.

Thin: parse the options, read the project's ``.hardbox.yaml``, call
``hardbox.dockerfile.lint``, render with the gate's formats (a lint run is a decision with one
rule per lint rule), print. Exit 0 when no finding reaches ``--fail-on`` (default ``high``), 1
when one does, 2 when the Dockerfile or the config is unusable.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from hardbox.cli.options import add_command
from hardbox.cli.output import add_report_arguments

if TYPE_CHECKING:
    from hardbox.dockerfile.config import LintConfig
    from hardbox.dockerfile.parser import Dockerfile

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
sudo, curl | sh, upgrades in the build, apt-get without --no-install-recommends, pipes
without pipefail, cd instead of WORKDIR, and base images from untrusted registries.
`docs/gate.md` lists them all, with the hadolint rule (DLxxxx) each one covers.

The default --fail-on is high: lint fails a build only for what is a security defect by itself
(runs as root, a secret, a download piped into a shell); lower findings are printed and go in
the reports. Use --fail-on medium (or low) to be stricter.

Ignoring, as hadolint users do:
  a comment directly above an instruction:  # hardbox ignore=HB-DF-007
                                            # hadolint ignore=DL3008,DL3015
  a .hardbox.yaml in the working directory (or --config FILE), shaped like .hadolint.yaml:
    ignored: [HB-DF-017, DL3008]
    failure-threshold: medium       # or hadolint's error/warning/info/style/none
    trusted-registries: [registry.example.com, docker.io]
Options on the command line win over the file. Ignored findings are listed in --json."""

_EPILOG = """\
examples:
  hardbox lint Dockerfile
  cat Dockerfile | hardbox lint -
  hardbox lint app/Dockerfile --fail-on medium --sarif lint.sarif --junit lint.xml
  hardbox lint Dockerfile --json - | jq '.findings[] | select(.severity=="high")'

exit codes: 0 no finding at or above --fail-on; 1 at least one; 2 the Dockerfile or the config
is unusable (unreadable, not UTF-8, an unknown instruction, an unterminated heredoc, a
misspelt key in .hardbox.yaml)."""


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "lint", handler, help="check a Dockerfile before it is built",
                    description=_DESCRIPTION, epilog=_EPILOG)
    p.add_argument("dockerfile", metavar="Dockerfile", help="the Dockerfile to check; - reads standard input")
    p.add_argument("--fail-on", metavar="SEVERITY", default=None,
                   help="exit 1 when a finding is this severe or worse (default: .hardbox.yaml's "
                        f"failure-threshold, else {DEFAULT_FAIL_ON})")
    p.add_argument("--ignore", metavar="RULE", action="append", default=[],
                   help="ignore a rule, by hardbox id (HB-DF-007) or hadolint id (DL3008); repeatable")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="lint settings to read instead of ./.hardbox.yaml")
    add_report_arguments(p, REPORTS)


def handler(args: argparse.Namespace) -> int:
    import json

    from hardbox.cli.output import report_targets, write_reports
    from hardbox.dockerfile.lint import RULES, lint
    from hardbox.findings import Severity
    from hardbox.gate import junit, markdown, sarif
    from hardbox.gate.evaluate import from_lint

    targets = report_targets(args, REPORTS)
    config = _config(args)
    never_fail = config.never_fail and args.fail_on is None
    fail_on = Severity.parse(args.fail_on or (config.failure_threshold.value if config.failure_threshold else DEFAULT_FAIL_ON))
    result = lint(_read(args.dockerfile), config=config)
    decision = from_lint(result, fail_on, RULES)
    failing = () if never_fail else result.at_or_above(fail_on)
    body = {**result.to_dict(), "fail_on": "none" if never_fail else fail_on.value, "passed": not failing}
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
    ignored = f", {len(result.ignored)} ignored" if result.ignored else ""
    out.write(f"hardbox lint: {verdict}: {len(result.findings)} findings{ignored}, "
              f"{len(failing)} at or above {'none' if never_fail else fail_on.value}\n")
    return 1 if failing else 0


def _config(args: argparse.Namespace) -> LintConfig:
    """The project's settings (--config, else ./.hardbox.yaml) with --ignore added."""
    import dataclasses
    from pathlib import Path

    from hardbox.dockerfile.config import LintConfig, find_config, load_config

    path = Path(args.config) if args.config else find_config(Path.cwd())
    config = load_config(path) if path is not None else LintConfig()
    extra = frozenset(rule.strip().upper() for rule in args.ignore)
    return dataclasses.replace(config, ignored=config.ignored | extra) if extra else config


def _read(name: str) -> Dockerfile:
    """The Dockerfile named, or standard input for ``-`` (as hadolint and docker build take it)."""
    from hardbox.dockerfile.parser import parse_file, parse_stdin

    return parse_stdin(sys.stdin.buffer) if name == "-" else parse_file(name)
