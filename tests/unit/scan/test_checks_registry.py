"""Every check family is registered, every rule id is unique and documented, and every
reporter the CLI offers exists (STYLE.md: a test fails when an implementation is not
registered or a CLI choice maps to nothing)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import hardbox.scan.checks as checks_pkg
from hardbox.cli.scan import FORMATS
from hardbox.report import REPORTERS
from hardbox.report.interface import Reporter
from hardbox.scan.checks import CHECKS, all_rules
from hardbox.scan.checks.interface import Check

DOCS = Path(__file__).resolve().parents[3] / "docs" / "adding-a-check.md"


def test_every_check_class_is_registered() -> None:
    found = set()
    for info in pkgutil.iter_modules(checks_pkg.__path__):
        module = importlib.import_module(f"hardbox.scan.checks.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Check) and obj is not Check and obj.__module__ == module.__name__:
                found.add(obj)
    assert found == set(CHECKS)


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in all_rules()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"HB-(CFG|FILE|SEC)-\d{3}", i) for i in ids)


def test_every_rule_is_documented() -> None:
    text = DOCS.read_text()
    missing = [rule.id for rule in all_rules() if f"`{rule.id}`" not in text]
    assert not missing, f"add these to docs/adding-a-check.md: {missing}"


def test_every_cli_format_has_a_reporter() -> None:
    assert set(FORMATS) == set(REPORTERS)
    for name, cls in REPORTERS.items():
        assert issubclass(cls, Reporter) and cls.format == name
