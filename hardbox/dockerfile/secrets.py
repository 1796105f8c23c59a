"""What ``hardbox lint`` takes for a secret in a Dockerfile: the judgement of the scan's one
detector set (``hardbox.secrets``, policies/secrets/rules.yaml), never a copy of it.

ARG and ENV pairs are judged as the scan judges ENV and build arguments in an image config:
a known credential format in the value whatever the name, else a credential-named variable
with a value that is no placeholder. RUN lines (and their heredoc bodies) are searched for
the rules' formats, as the scan searches build history; a RUN's own variable names are not
judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardbox.dockerfile.parser import Instruction
from hardbox.secrets import load_policy
from hardbox.secrets.rules import Verdict


@dataclass(frozen=True)
class RunSecret:
    line: int  # of the Dockerfile, 1-based
    title: str  # the rule's
    redacted: str


def judge_pair(key: str, value: str) -> Verdict | None:
    """Does ``ARG``/``ENV`` ``key=value`` set a credential?"""
    return load_policy().judge(key, value)


def secret_name(key: str) -> bool:
    """Does the name say it holds a credential (``ARG GITHUB_TOKEN`` with no default)?"""
    return load_policy().names.secret_name(key)


def run_secrets(ins: Instruction) -> list[RunSecret]:
    """Credential formats in a RUN instruction's text, heredoc bodies included. Lines are
    counted from the instruction's first (continuation lines are joined, as BuildKit does)."""
    return [RunSecret(ins.line + match.line - 1, match.rule.title, match.redacted)
            for match in load_policy().find_text(ins.original)]
