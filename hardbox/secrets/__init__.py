"""The one secret detector set: every reader of secrets in hardbox asks it.

``policies/secrets/rules.yaml`` is the only source (scalibr's ``veles``: one detector library
for every user). ``hardbox scan`` runs it over file contents (``scan/checks/secrets.py``), over
ENV, LABEL and build history (``scan/checks/config.py``), and scrubs printed history with it;
``hardbox lint`` runs it over ARG, ENV and RUN lines (``dockerfile/secrets.py``). It holds:

- ``rules``: credential formats (a regex each, a keyword prefilter, an optional minimum
  entropy below which a match is a filler such as ``ghp_xxxx…``);
- ``allow``: values that are never secrets whatever matched them: the issuers' documented
  examples and placeholders, as gitleaks' allow-list has;
- ``names``: when a variable's *name* says it holds a credential (``DB_PASSWORD``), and
  which values are plainly no credential (``true``, a path, ``$VAR``).

This package stands below scan and lint and imports neither.
"""

from __future__ import annotations

from hardbox.secrets.load import RULES_ENV, load_policy
from hardbox.secrets.names import NameHeuristic
from hardbox.secrets.rules import (
    Allowlist,
    SecretMatch,
    SecretPolicy,
    SecretRule,
    entropy,
    placeholder,
    redact,
)

__all__ = [
    "RULES_ENV",
    "Allowlist",
    "NameHeuristic",
    "SecretMatch",
    "SecretPolicy",
    "SecretRule",
    "entropy",
    "load_policy",
    "placeholder",
    "redact",
]
