"""``hardbox lint`` end to end through the real CLI: exit codes, --fail-on, every format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers.cli import hardbox

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dockerfiles" / "sftp-server.Dockerfile"


def test_sftp_dockerfile_fails_on_root_with_every_report(tmp_path: Path) -> None:
    out = {fmt: tmp_path / f"lint.{fmt}" for fmt in ("sarif", "junit", "markdown")}
    proc = hardbox("lint", str(FIXTURE), "--sarif", str(out["sarif"]), "--junit", str(out["junit"]),
                   "--markdown", str(out["markdown"]))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert f"FAIL {FIXTURE}:1: HB-DF-003 [high]" in proc.stdout
    assert f"{FIXTURE}:16: HB-DF-008 [medium] EXPOSE 22" in proc.stdout
    assert "6 findings, 1 at or above high" in proc.stdout
    sarif = json.loads(out["sarif"].read_text())
    lines = sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
                   for r in sarif["runs"][0]["results"])  # fmt: skip
    assert lines == [("HB-DF-001", 1), ("HB-DF-002", 5), ("HB-DF-003", 1), ("HB-DF-007", 9), ("HB-DF-008", 16), ("HB-DF-014", 9)]
    root = ET.parse(out["junit"]).getroot()
    assert root.get("failures") == "1"
    assert "HB-DF-003" in out["markdown"].read_text()


def test_fail_on_and_json_to_stdout() -> None:
    proc = hardbox("lint", str(FIXTURE), "--fail-on", "critical", "--json", "-")
    assert proc.returncode == 0
    body = json.loads(proc.stdout)
    assert body["passed"] is True and body["fail_on"] == "critical"
    assert {(f["rule"], f["line"]) for f in body["findings"]} >= {("HB-DF-001", 1), ("HB-DF-008", 16)}
    assert "hardbox lint: passed" in proc.stderr  # the summary moves to stderr
    assert hardbox("lint", str(FIXTURE), "--fail-on", "low").returncode == 1


def test_clean_dockerfile_passes(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text('FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0\nUSER 10001\nENTRYPOINT ["curl"]\n')
    proc = hardbox("lint", str(df), "--fail-on", "info")
    assert proc.returncode == 0, proc.stdout
    assert "0 findings" in proc.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"FROM a\nFROBNICATE\n", ":2: unknown instruction"), (b"\xff\xfe", "not UTF-8"), (b"", "no instructions")],
)
def test_unusable_dockerfile_exits_2(tmp_path: Path, content: bytes, message: str) -> None:
    df = tmp_path / "Dockerfile"
    df.write_bytes(content)
    proc = hardbox("lint", str(df))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"hardbox: {df}") and message in proc.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert hardbox("lint", str(tmp_path / "missing")).returncode == 2
    proc = hardbox("lint", str(FIXTURE), "--fail-on", "severe")
    assert proc.returncode == 2 and "unknown severity" in proc.stderr
    assert hardbox("lint", "--help").returncode == 0


def test_stdin_is_read_for_dash() -> None:
    proc = hardbox("lint", "-", "--json", "-", input=FIXTURE.read_text())
    assert proc.returncode == 1, proc.stderr
    body = json.loads(proc.stdout)
    assert body["path"] == "-" and ("HB-DF-003", 1) in {(f["rule"], f["line"]) for f in body["findings"]}


def test_project_config_in_the_working_directory_and_the_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM quay.io/org/base:1\n"
        "# hadolint ignore=DL3008\n"
        "RUN apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n"
        "RUN cd /src && make\n"
        "USER 10001\n"
    )
    (tmp_path / ".hardbox.yaml").write_text(
        "ignored: [DL3003]\nfailure-threshold: warning\ntrusted-registries: [registry.example.com]\n"
    )
    proc = hardbox("lint", "Dockerfile", "--json", "-", cwd=tmp_path)
    body = json.loads(proc.stdout)
    assert proc.returncode == 1 and body["fail_on"] == "medium", proc.stderr
    assert [(f["rule"], f["line"]) for f in body["findings"]] == [("HB-DF-018", 1)]
    assert {(i["rule"], i["by"], i["via"]) for i in body["ignored"]} == {
        ("HB-DF-007", "inline", "DL3008"), ("HB-DF-017", "config", "DL3003")}
    # --fail-on and --ignore on the command line win over the file.
    assert hardbox("lint", "Dockerfile", "--fail-on", "high", cwd=tmp_path).returncode == 0
    assert hardbox("lint", "Dockerfile", "--ignore", "DL3026", cwd=tmp_path).returncode == 0
    # --config names another file; a broken one is exit 2 naming it, with nothing linted.
    (tmp_path / "other.yaml").write_text("failure-threshold: [high]\n")
    proc = hardbox("lint", "Dockerfile", "--config", "other.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("hardbox: lint config other.yaml:1: failure-threshold:"), proc.stderr
