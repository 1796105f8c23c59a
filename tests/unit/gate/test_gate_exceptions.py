"""Exceptions: matching, expiry relative to today (so these tests never rot), file errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.findings import Finding, Kind, Severity, VulnerabilityDetail
from hardbox.gate.exceptions import GateException, load_exceptions

TODAY = dt.datetime.now(dt.UTC).date()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exceptions.yaml"
    path.write_text(text)
    return path


VULN = Finding("GHSA-xxxx-yyyy-zzzz", Kind.VULNERABILITY, Severity.HIGH, "bug", package="openssl",
               version="3.0.1", vulnerability=VulnerabilityDetail(aliases=("CVE-2024-1234",)))  # fmt: skip
KEY = Finding("HB-FILE-006", Kind.SECRET, Severity.HIGH, "key", path="/opt/app/test/fixture.pem")


def test_load_and_match(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
version: 1
exceptions:
  - advisory: CVE-2024-1234
    package: openssl
    reason: not reachable, no TLS server in this image
    approved_by: alice@example.com
    expires: {day(30)}
  - check: HB-FILE-*
    path: /opt/app/test/*.pem
    reason: test fixture keys, never used
    approved_by: bob
    expires: {day(0)}
""")
    adv, files = load_exceptions(path)
    assert adv.line == 3 and files.line == 8 and adv.source == str(path)
    assert adv.matches(VULN)  # by alias
    assert not adv.matches(Finding("GHSA-xxxx-yyyy-zzzz", Kind.VULNERABILITY, Severity.HIGH, "bug", package="libssl3"))
    assert files.matches(KEY)
    assert not files.matches(Finding("HB-FILE-006", Kind.SECRET, Severity.HIGH, "key", path="/root/.ssh/id_rsa"))
    assert not adv.matches(KEY) and not files.matches(VULN)
    # An exception applies through its expiry day, and not the day after.
    assert not files.expired(TODAY) and files.expired(TODAY + dt.timedelta(days=1))


def test_advisory_by_its_own_id() -> None:
    exc = GateException("r", "a", TODAY, advisory="GHSA-xxxx-yyyy-zzzz")
    assert exc.matches(VULN)


def test_an_exception_must_name_something() -> None:
    with pytest.raises(ValueError):
        GateException("r", "a", TODAY)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("version: 1\nexceptions:\n  - advisory: CVE-1\n    reason: because\n    approved_by: me\n",
         ":3: exceptions.0: 'expires' is a required property"),
        ("version: 1\nexceptions:\n  - reason: because\n    approved_by: me\n    expires: 2030-01-01\n",
         ":3: exceptions.0:"),
        ("version: 1\nexceptions:\n  - check: X\n    reason: because\n    approved_by: me\n    expires: 2030-02-30\n",
         ":6: exceptions.0.expires: '2030-02-30' is not a date"),
        ("version: 1\nexceptions:\n  - check: X\n    reason: because\n    approved_by: me\n    expires: soon\n",
         ":6: exceptions.0.expires: 'soon' does not match"),
        ("version: 1\nexceptions:\n  - check: X\n    reason: because\n    aproved_by: me\n    expires: 2030-01-01\n",
         "exceptions.0"),
    ],
)
def test_bad_exception_files(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InputError) as err:
        load_exceptions(path)
    assert err.value.message.startswith(f"exceptions {path}")
    assert expected in err.value.message
