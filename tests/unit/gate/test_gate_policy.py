"""Policy loading: the shipped policies validate, and every mistake is one line naming the
file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.findings import Kind, Severity
from hardbox.gate.policy import default_policy_path, load_policy, parse_size

POLICIES = Path(__file__).parents[3] / "policies" / "gate"


def test_default_policy_is_secrets_root_and_fixable_critical_high() -> None:
    policy = load_policy(None)
    assert policy.source == str(default_policy_path())
    assert policy.forbid == ("secrets", "root-user")
    assert policy.vulnerabilities is not None
    assert policy.vulnerabilities.severities == {Severity.CRITICAL, Severity.HIGH}
    assert policy.vulnerabilities.count_unfixed is False


def test_example_strict_policy_loads_every_field() -> None:
    policy = load_policy(POLICIES / "example-strict.yaml")
    assert policy.max_size == 200_000_000
    assert policy.required_labels == ("org.opencontainers.image.source", "org.opencontainers.image.revision")
    assert policy.profile is not None and policy.profile.name == "strict"
    assert policy.licenses is not None and "AGPL-3.0-only" in policy.licenses.denied
    assert policy.forbid_findings[1].kind is Kind.MISCONFIGURATION
    assert policy.dockerfile is not None and policy.dockerfile.fail_on is Severity.MEDIUM


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nforbid:\n  - secrets\n  - rooot-user\n", ":4: forbid.1: 'rooot-user' is not one of"),
        ("version: 1\nvulnerabilities:\n  severities: [critical, severe]\n", ":3: vulnerabilities.severities.1: 'severe' is not one of"),
        ("version: 1\nmax_sise: 10MB\n", ":2: max_sise: unknown field"),
        ("version: 1\nvulnerabilities:\n  severities: [high]\n  cont_unfixed: true\n", ":4: vulnerabilities.cont_unfixed: unknown field"),
        ("name: x\n", ":1: (document): 'version' is a required property"),
        ("version: 1\nforbid: [secrets]\nforbid: [root-user]\n", ":3: forbid: key given twice"),
        ("version: 1\nforbid: [secrets\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("version: 1\nmax_size: ten megabytes\n", ":2: max_size:"),
        ("version: 1\nlicenses:\n  denied:\n    - MIT\n    - GPL-3.0-onli\n", ":5: licenses: 'GPL-3.0-onli' is not an SPDX license id"),
        ("version: 2\n", ":1: version: 1 was expected"),
        ("version: 1\nrequired_labels: &a [x, y]\nforbid_findings:\n  - id: *a\n", "YAML aliases are not allowed"),
    ],
)
def test_bad_policies_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_policy(path)
    message = err.value.message
    assert message.startswith(f"policy {path}")
    assert expected in message
    assert "\n" not in message


def test_unreadable_and_binary_policies(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"version: 1\nname: \xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_policy(bad)


@pytest.mark.parametrize(
    ("text", "size"), [("200MB", 200_000_000), ("1.5GiB", 1_610_612_736), ("512", 512), ("10 kB", 10_000)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size
