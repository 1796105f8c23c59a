"""``hardbox scan`` end to end, as a user runs it: the acceptance fixture of issue 5 built by
buildah, the clean busybox image, filters, exit codes and unusable inputs.

"The right layer" is checked independently of hardbox: skopeo reads the archive's config,
and the layer whose build step wrote the credentials (by its history entry) must be the
layer every report names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import scanimages
from helpers.cli import hardbox, need_root, need_tool

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_tool("buildah", "skopeo")
    need_root()
    work = tmp_path_factory.mktemp("buildah")
    try:
        yield scanimages.buildah_image(work)
    finally:
        scanimages.remove_buildah_storage(work)


@pytest.fixture(scope="module")
def leaky_config(leaky: Path) -> dict[str, Any]:
    out = subprocess.run(["skopeo", "inspect", "--config", f"docker-archive:{leaky}"],
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def layer_of_step(config: dict[str, Any], needle: str) -> tuple[int, str]:
    """(index, diff_id) of the layer made by the history entry containing ``needle``."""
    layer_steps = [h for h in config["history"] if not h.get("empty_layer")]
    for index, step in enumerate(layer_steps):
        if needle in step.get("created_by", ""):
            return index, config["rootfs"]["diff_ids"][index]
    raise AssertionError(f"no layer step contains {needle!r}")


@pytest.fixture(scope="module")
def leaky_reports(leaky: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reports")
    root = tmp_path_factory.mktemp("store")
    proc = hardbox("scan", f"docker-archive:{leaky}", "--json", str(out / "r.json"),
                   "--sarif", str(out / "r.sarif"), "--markdown", str(out / "r.md"),
                   "--html", str(out / "r.html"), env={**os.environ, "HARDBOX_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr
    return {"stdout": proc.stdout, "json": json.loads((out / "r.json").read_text()),
            "sarif": json.loads((out / "r.sarif").read_text()),
            "md": (out / "r.md").read_text(), "html": (out / "r.html").read_text()}


def test_acceptance_findings_with_the_right_layer_in_json(leaky_reports: dict[str, Any],
                                                          leaky_config: dict[str, Any]) -> None:
    secret_index, secret_layer = layer_of_step(leaky_config, "aws_secret_access_key")
    rm_index, _ = layer_of_step(leaky_config, "rm -f /root/.aws/credentials")
    arg_index, arg_layer = layer_of_step(leaky_config, "echo 'Port 22'")
    findings = leaky_reports["json"]["findings"]

    def one(check_id: str, **match: Any) -> dict[str, Any]:
        hits = [f for f in findings if f["id"] == check_id
                and all(f.get(k) == v for k, v in match.items())]
        assert len(hits) == 1, (check_id, match, [f["id"] for f in findings])
        return hits[0]

    aws = one("HB-SEC-002", path="/root/.aws/credentials")
    assert (aws["layer"], aws["layer_index"]) == (secret_layer, secret_index)
    assert aws["extra"]["deleted"] is True and aws["severity"] == "critical"
    deleted = one("HB-FILE-007", path="/root/.aws/credentials")
    assert deleted["layer"] == secret_layer and deleted["extra"]["hidden_by_index"] == rm_index
    ssh = one("HB-CFG-002")
    assert ssh["extra"]["port"] == "22/tcp" and "EXPOSE 22" in ssh["extra"]["instruction"]
    root = one("HB-CFG-001")
    assert root["severity"] == "high"
    token = one("HB-CFG-006", layer=arg_layer)
    assert "GitLab" in token["title"] and token["layer_index"] == arg_index
    assert leaky_reports["json"]["risk"]["grade"] == "F"


def test_acceptance_findings_in_sarif_markdown_and_html(leaky_reports: dict[str, Any],
                                                        leaky_config: dict[str, Any]) -> None:
    _, secret_layer = layer_of_step(leaky_config, "aws_secret_access_key")
    secret_index, _ = layer_of_step(leaky_config, "aws_secret_access_key")
    results = leaky_reports["sarif"]["runs"][0]["results"]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_rule.setdefault(r["ruleId"], []).append(r)
    for rule in ("HB-SEC-002", "HB-FILE-007"):
        (r,) = by_rule[rule]
        assert r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == secret_layer
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "root/.aws/credentials"
    assert "HB-CFG-002" in by_rule and "HB-CFG-001" in by_rule

    md = leaky_reports["md"]
    assert re.search(rf"\| HB-SEC-002 \| AWS secret access key \| /root/.aws/credentials:\d+ in layer {secret_index} ", md)
    assert re.search(rf"\| HB-FILE-007 \| /root/.aws/credentials deleted by layer \d still ships in layer {secret_index} ", md)
    assert "| HB-CFG-002 | SSH port 22/tcp exposed |" in md and "| HB-CFG-001 | Runs as root |" in md

    html = leaky_reports["html"]
    rows = re.findall(r"<tr data-sev=[^>]*>.*?</tr>", html, re.S)
    aws_rows = [r for r in rows if "HB-SEC-002" in r]
    assert len(aws_rows) == 1 and f'data-v="{secret_index}">{secret_index}</td>' in aws_rows[0]
    assert any("HB-FILE-007" in r and "/root/.aws/credentials" in r for r in rows)
    assert any("SSH port 22/tcp exposed" in r for r in rows)
    assert any("Runs as root" in r for r in rows)


def test_no_report_contains_a_secret(leaky_reports: dict[str, Any]) -> None:
    secrets = (scanimages.AWS_KEY_ID, scanimages.AWS_SECRET, scanimages.GITLAB_TOKEN)
    for name, body in leaky_reports.items():
        text = body if isinstance(body, str) else json.dumps(body)
        assert not [s for s in secrets if s in text], name


def test_clean_busybox_image_has_no_high_findings(busybox_archive: Path, hardbox_root: Path) -> None:
    proc = hardbox("scan", f"docker-archive:{busybox_archive}", "--json", "-", "--fail-on", "high")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert not [f for f in doc["findings"] if f["severity"] in ("critical", "high")]
    assert doc["risk"]["grade"] == "A"
    assert "risk grade A" in proc.stderr  # the summary moved to stderr: stdout is the JSON


def test_a_healthy_buildah_image_has_no_high_findings_and_keeps_its_healthcheck(
        leaky: Path, hardbox_root: Path) -> None:
    """Built on the same buildah storage as ``leaky`` (the busybox base is already there)."""
    healthy = scanimages.buildah_build(leaky.parent, "healthy.Dockerfile", "healthy:1",
                                       docker_format=True)
    proc = hardbox("scan", f"docker-archive:{healthy}", "-q", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ids = {f["id"] for f in doc["findings"]}
    assert not ids & {"HB-CFG-001", "HB-CFG-002", "HB-CFG-004", "HB-CFG-009"}
    assert not [f for f in doc["findings"] if f["severity"] in ("critical", "high")]
    assert doc["image"]["user"] == "1000" and doc["risk"]["grade"] == "A"


def test_a_root_filesystem_is_scanned_without_config_checks(tmp_path: Path, hardbox_root: Path) -> None:
    from helpers import imagebuild

    rootfs = imagebuild.busybox_rootfs(tmp_path / "rootfs")
    (rootfs / "etc/ssh").mkdir(parents=True)
    (rootfs / "etc/ssh/ssh_host_rsa_key").write_text("not really a key\n")
    proc = hardbox("scan", f"dir:{rootfs}", "-q", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ids = {f["id"] for f in doc["findings"]}
    assert "HB-FILE-003" in ids and not [i for i in ids if i.startswith("HB-CFG-")]
    assert any("no image config" in note for note in doc["notes"])


def test_default_reports_go_under_reports_in_the_current_directory(busybox_archive: Path,
                                                                  hardbox_root: Path, tmp_path: Path) -> None:
    # Run from another directory; the checkout stays importable (installed or not).
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = hardbox("scan", f"docker-archive:{busybox_archive}", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert len(written) == 2 and written[0].startswith("bbtest-")
    assert {Path(w).suffix for w in written} == {".html", ".json"}
    assert "risk grade A" in proc.stdout and "reports/bbtest-" in proc.stdout


def test_a_stored_image_is_scanned_by_name(busybox_archive: Path, hardbox_root: Path,
                                           tmp_path: Path) -> None:
    imported = hardbox("image", "import", str(busybox_archive))
    assert imported.returncode == 0, imported.stderr
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = hardbox("scan", "bbtest", "--sarif", "out.sarif", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    run = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]
    assert run["properties"]["image"] == "bbtest"
    assert proc.stdout.startswith("bbtest (")
    default = hardbox("scan", "bbtest", "-q", cwd=tmp_path, env=env)
    assert default.returncode == 0, default.stderr
    assert [p.name.startswith("bbtest-latest-") for p in (tmp_path / "reports").iterdir()] == [True, True]


def test_fail_on_and_severity_filter(leaky: Path, hardbox_root: Path) -> None:
    image = f"docker-archive:{leaky}"
    failed = hardbox("scan", image, "-q", "--markdown", "-", "--fail-on", "high")
    assert failed.returncode == 1 and "--fail-on high" in failed.stderr
    # --fail-on sees what is listed: with only low findings listed, nothing is high.
    listed_low = hardbox("scan", image, "-q", "--json", "-", "--severity", "low", "--fail-on", "high")
    assert listed_low.returncode == 0, listed_low.stderr
    doc = json.loads(listed_low.stdout)
    assert {f["severity"] for f in doc["findings"]} == {"low"}
    assert doc["risk"]["grade"] == "F" and doc["summary"]["omitted_by_filters"] > 0


def test_ignore_unfixed_drops_vulnerabilities_without_a_fix(tmp_path: Path, hardbox_root: Path,
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    need_tool("umoci", "openssl")
    _, work = scanimages.sample_scan(tmp_path_factory)
    fixed = scanimages.write_advisory(tmp_path / "osv")
    record = json.loads(fixed.read_text())
    record["id"] = "GHSA-hbx0-test-0002"
    record["affected"][0]["ranges"][0]["events"] = [{"introduced": "0"}]
    (tmp_path / "osv" / "unfixed.json").write_text(json.dumps(record))
    db = tmp_path / "osv.sqlite"
    imported = hardbox("db", "import", str(tmp_path / "osv"), "--db", str(db))
    assert imported.returncode == 0, imported.stderr
    image = f"oci:{work / 'image' / 'layout'}:sample"

    def vulns(*flags: str) -> list[str]:
        proc = hardbox("scan", image, "-q", "--db", str(db), "--json", "-", *flags)
        assert proc.returncode == 0, proc.stderr
        return sorted(f["id"] for f in json.loads(proc.stdout)["findings"] if f["kind"] == "vulnerability")

    assert vulns() == ["GHSA-hbx0-test-0001", "GHSA-hbx0-test-0002"]
    assert vulns("--ignore-unfixed") == ["GHSA-hbx0-test-0001"]


@pytest.mark.parametrize(("args", "message"), [
    (["docker-archive:/nonexistent/image.tar"], "/nonexistent/image.tar"),
    (["IMAGE", "--severity", "urgent"], "unknown severity 'urgent'"),
    (["IMAGE", "--json", "-", "--sarif", "-"], "only one format can be written to stdout"),
    (["IMAGE", "--db", "/nonexistent/osv.sqlite"], "/nonexistent/osv.sqlite: no vulnerability database"),
])
def test_unusable_input_is_one_line_and_exit_2(args: list[str], message: str, busybox_archive: Path,
                                               hardbox_root: Path) -> None:
    args = [f"docker-archive:{busybox_archive}" if a == "IMAGE" else a for a in args]
    proc = hardbox("scan", *args)
    assert proc.returncode == 2
    assert message in proc.stderr.splitlines()[0]
    assert "Traceback" not in proc.stderr


def test_a_garbage_archive_is_exit_2(tmp_path: Path, hardbox_root: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 100)
    proc = hardbox("scan", f"docker-archive:{bad}", "--json", str(tmp_path / "out.json"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_an_unwritable_report_path_is_exit_2_and_writes_nothing(busybox_archive: Path, hardbox_root: Path,
                                                               tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    proc = hardbox("scan", f"docker-archive:{busybox_archive}", "--json", str(tmp_path / "ok.json"),
                   "--sarif", str(blocker / "r.sarif"))
    assert proc.returncode == 2 and "cannot write the report" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ok.json").exists()
