"""The registry of check families: ``CHECKS``, and the rules they can report.

The interface every family implements is ``interface.py`` (``Check``); each family
(``config``, ``files``, ``devices``, ``secrets``) is one module. Their rules are rows of
policies/checks/rules.yaml (``rules.py``), the secret check's those of policies/secrets/. A
test fails when a family is not registered here, when two rules share an id, or when a rule
is not documented; docs/adding-a-check.md is the checklist.
"""

from __future__ import annotations

from hardbox.scan.checks.config import ConfigCheck
from hardbox.scan.checks.devices import DeviceCheck
from hardbox.scan.checks.files import FileCheck
from hardbox.scan.checks.interface import Check
from hardbox.scan.checks.rules import Rule
from hardbox.scan.checks.secrets import SecretCheck

CHECKS: tuple[type[Check], ...] = (ConfigCheck, FileCheck, DeviceCheck, SecretCheck)


def all_rules() -> tuple[Rule, ...]:
    """Every rule of every registered check, in registry order."""
    return tuple(rule for check in CHECKS for rule in check.rules())


def rule_index() -> dict[str, Rule]:
    return {rule.id: rule for rule in all_rules()}
