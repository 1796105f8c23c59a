"""``.hardbox.yaml``: a project's lint settings, shaped like hadolint's ``.hadolint.yaml`` so a
team can carry theirs over.

    ignored: [HB-DF-007, DL3008]        # rule ids, hardbox's or hadolint's
    failure-threshold: medium           # a severity, or hadolint's error/warning/info/style/none
    trusted-registries: [registry.example.com, docker.io]

``hardbox lint`` reads it from the working directory (or ``--config FILE``); options on the
command line win over it. A file that is there but unusable is an error naming the file and
the field, never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hardbox import yamldoc
from hardbox.findings import Severity

FILE_NAMES = (".hardbox.yaml", ".hardbox.yml")

# hadolint's threshold names, by the severity each of its levels corresponds to here;
# "none" never fails.
_HADOLINT_LEVELS = {"error": "high", "warning": "medium", "info": "low", "style": "info"}
_SEVERITIES = ["critical", "high", "medium", "low", "info"]
_RULE_ID = "^(HB-DF-[0-9]{3}|DL[0-9]{4}|SC[0-9]{4})$"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ignored": {"type": "array", "items": {"type": "string", "pattern": _RULE_ID}, "maxItems": 500},
        "failure-threshold": {"enum": [*_SEVERITIES, *_HADOLINT_LEVELS, "none"]},
        "trusted-registries": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Za-z0-9.-]+(:[0-9]+)?$", "maxLength": 255},
            "maxItems": 500,
        },
    },
}


@dataclass(frozen=True)
class LintConfig:
    """``failure_threshold`` None: not set here (the command's default applies); ``never_fail``
    for hadolint's ``none``."""

    path: str | None = None
    ignored: frozenset[str] = frozenset()
    failure_threshold: Severity | None = None
    never_fail: bool = False
    trusted_registries: tuple[str, ...] = ()


def find_config(cwd: Path) -> Path | None:
    """The project's config file in ``cwd``, if there is one."""
    for name in FILE_NAMES:
        if (cwd / name).exists():
            return cwd / name
    return None


def load_config(path: Path) -> LintConfig:
    doc = yamldoc.read(path, "lint config", SCHEMA, hint="see `hardbox lint --help` for the keys")
    data = doc.data
    level = data.get("failure-threshold")
    threshold = None if level in (None, "none") else Severity.parse(_HADOLINT_LEVELS.get(level, level))
    return LintConfig(
        path=str(path),
        ignored=frozenset(rule.upper() for rule in data.get("ignored", ())),
        failure_threshold=threshold,
        never_fail=level == "none",
        trusted_registries=tuple(data.get("trusted-registries", ())),
    )
