"""The shipped example policy judges a real Debian image (issue 16 item 7): Debian's
copyright files carry free-text licenses (``BSD-3-clause and/or GPL-3+``) that used to raise
AttributeError inside license-expression; they are "unknown" licenses, the policy decides,
and the JUnit and SARIF reports are written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers.cli import hardbox

pytestmark = [pytest.mark.root, pytest.mark.slow]

POLICY = Path(__file__).parents[2] / "policies" / "gate" / "example-strict.yaml"


def test_example_strict_policy_on_debian(debian_layout: object, hardbox_root: Path, tmp_path: Path) -> None:
    layout = debian_layout.layout, debian_layout.tag  # type: ignore[attr-defined]
    junit, sarif = tmp_path / "gate.xml", tmp_path / "gate.sarif"
    proc = hardbox("gate", f"oci:{layout[0]}:{layout[1]}", "--policy", str(POLICY),
                   "--junit", str(junit), "--sarif", str(sarif))
    assert "Traceback" not in proc.stderr, proc.stderr
    # Debian minbase runs as root and has no labels: the strict policy fails it, with exit 1.
    assert proc.returncode == 1, proc.stderr
    assert "FAIL  does not run as root" in proc.stdout
    assert "pass  package licenses denied: AGPL-3.0-only" in proc.stdout
    cases = [c.get("name", "") for c in ET.parse(junit).getroot().iter("testcase")]
    assert any("licenses" in name for name in cases), cases
    assert json.loads(sarif.read_text())["runs"][0]["results"]
    # With unknown licenses failing, the free-text ones are named, still without a crash.
    fail_unknown = tmp_path / "unknown-fails.yaml"
    fail_unknown.write_text(POLICY.read_text().replace("unknown: ignore", "unknown: fail"))
    proc = hardbox("gate", f"oci:{layout[0]}:{layout[1]}", "--policy", str(fail_unknown))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "HB-GATE-006" in proc.stdout and "unknown license" in proc.stdout
