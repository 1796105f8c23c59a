"""The check rules table, policies/checks/rules.yaml, is the one place a rule's words live:
the shipped file is valid, every family's section belongs to a registered check, every id the
code reports is a row of its own family (and every row is reported), and the tables in
docs/adding-a-check.md say what the data says."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from hardbox.findings import Kind, Severity
from hardbox.scan.checks import CHECKS, all_rules
from hardbox.scan.checks.interface import Check
from hardbox.scan.checks.rules import SCHEMA, family_rules, rule, shipped_rules_path
from hardbox.scan.checks.secrets import SecretCheck

DOCS = Path(__file__).resolve().parents[3] / "docs" / "adding-a-check.md"
# A rule as the code names it: rule("HB-CFG-001").
_REPORTED = re.compile(r"""\brule\("(HB-[A-Z]+-\d{3})"\)""")
_DOC_ROW = re.compile(r"^\| `(HB-[A-Z]+-\d{3})` \| (\w+) \| (.+) \|$", re.MULTILINE)


def _table() -> dict[str, object]:
    return yaml.safe_load(shipped_rules_path().read_text(encoding="utf-8"))


def test_the_shipped_table_is_valid() -> None:
    jsonschema.validate(_table(), SCHEMA)


def test_the_schema_refuses_a_broken_row() -> None:
    doc = _table()
    row = dict(doc["checks/config"][0])  # type: ignore[index]
    for broken in ({**row, "severity": "severe"}, {**row, "id": "CFG-1"},
                   {k: v for k, v in row.items() if k != "fix"}, {**row, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**doc, "checks/config": [broken]}, SCHEMA)


def test_every_section_is_a_registered_family() -> None:
    families = {key for key in _table() if key != "version"}
    table_checks = {check.name for check in CHECKS if check is not SecretCheck}
    assert families == table_checks


@pytest.mark.parametrize("check", [c for c in CHECKS if c is not SecretCheck], ids=lambda c: c.name)
def test_the_code_reports_exactly_its_family_rules(check: type[Check]) -> None:
    source = inspect.getsource(inspect.getmodule(check))  # type: ignore[arg-type]
    reported = set(_REPORTED.findall(source))
    declared = {r.id for r in family_rules(check.name)}
    assert reported == declared, "reported by the code but not in its section, or the other way"
    assert check.rules() == family_rules(check.name)


def test_rules_keep_their_words() -> None:
    # A few facts reports and gate exceptions rely on, read through the table.
    root = rule("HB-CFG-001")
    assert (root.title, root.severity, root.kind) == ("Runs as root", Severity.HIGH, Kind.MISCONFIGURATION)
    assert rule("HB-CFG-005").kind is Kind.SECRET
    assert rule("HB-FILE-009").title == "Device node shipped in the image"
    assert "`tar x`" in rule("HB-FILE-007").why


def test_an_unknown_rule_or_family_is_named() -> None:
    with pytest.raises(KeyError, match="HB-CFG-999"):
        rule("HB-CFG-999")
    with pytest.raises(KeyError, match="checks/nothing"):
        family_rules("checks/nothing")


def test_the_docs_tables_say_what_the_table_says() -> None:
    documented = {m[1]: (m[2], m[3]) for m in _DOC_ROW.finditer(DOCS.read_text())}
    wrong = {r.id: documented.get(r.id) for r in all_rules()
             if documented.get(r.id) != (r.severity.value, r.title)}
    assert not wrong, f"docs/adding-a-check.md disagrees with the rules: {wrong}"
