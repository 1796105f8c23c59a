"""The CI examples in docs/ci/ are run as written: the commands are extracted from the
workflow YAML in each page and executed in order, in a workspace holding a Dockerfile that
buildah builds into a real image (busybox-static, FROM scratch), OSV advisories, a policy and
an exceptions file. Only the steps that install hardbox or download advisories are left out
(the test environment has hardbox; it writes the advisories), and the test checks that
exactly those are left out, so a new step in the docs is run too."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import imagebuild
from helpers.cli import need_root, need_tool

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "ci"

DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.source="https://example.com/app"
USER 1000:1000
CMD ["/bin/sh"]
"""


def workflow(page: str) -> dict[str, object]:
    """The first ```yaml block of a docs page, parsed."""
    text = (DOCS / page).read_text()
    match = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert match, f"{page}: no yaml block"
    loaded = yaml.safe_load(match.group(1))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    need_root()
    need_tool("buildah")
    ws = tmp_path / "repo"
    imagebuild.busybox_rootfs(ws / "rootfs", applets=["sh", "ls", "cat", "true"])
    (ws / "Dockerfile").write_text(DOCKERFILE)
    shutil.copy(REPO / "policies" / "gate" / "default.yaml", ws / "gate-policy.yaml")
    expires = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    (ws / "gate-exceptions.yaml").write_text(
        "version: 1\nexceptions:\n  - check: HB-FILE-005\n    reason: busybox is the app's shell\n"
        f"    approved_by: platform-team\n    expires: {expires}\n"
    )
    (ws / "osv").mkdir()
    (ws / "osv" / "PYSEC-2099-1.json").write_text(json.dumps({
        "schema_version": "1.6.0", "id": "PYSEC-2099-1", "modified": "2024-05-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "not-in-this-image"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}],
    }))  # fmt: skip
    # `hardbox` on PATH, as `pip install hardbox` would put it.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "hardbox"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hardbox "$@"\n')
    shim.chmod(0o755)
    storage = tmp_path / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/graph"\nrunroot = "{tmp_path}/run"\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("HARDBOX_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(storage))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
    monkeypatch.setenv("CI_COMMIT_SHORT_SHA", "0123abcd")
    return ws


def run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # GitHub's default shell for run: is `bash -e {0}` with pipefail; GitLab runs lines in bash.
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=600)


GITHUB_SKIPPED = {"Install hardbox and buildah", "Fetch OSV advisories"}


def github_steps() -> list[tuple[str, str]]:
    jobs = workflow("github-actions.md")["jobs"]
    assert isinstance(jobs, dict)
    (job,) = jobs.values()
    steps = [(s.get("name", ""), s["run"]) for s in job["steps"] if "run" in s]
    assert {name for name, _ in steps} >= GITHUB_SKIPPED
    return [(name, script) for name, script in steps if name not in GITHUB_SKIPPED]


@pytest.mark.slow
@pytest.mark.root
def test_github_actions_example(workspace: Path, tmp_path: Path) -> None:
    steps = github_steps()
    assert [name for name, _ in steps] == [
        "Lint the Dockerfile", "Build the image", "Load the vulnerability database", "Gate"]
    for name, script in steps:
        proc = run(script, workspace)
        assert proc.returncode == 0, f"step {name!r} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "PASSED policy default" in proc.stdout
    junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads the JUnit XML")
    for report in ("gate-junit.xml", "lint-junit.xml"):
        (suite,) = list(junitparser.JUnitXml.fromfile(str(workspace / report)))
        assert suite.tests > 0 and suite.failures == 0
    assert json.loads((workspace / "gate.sarif").read_text())["version"] == "2.1.0"
    assert json.loads((workspace / "gate.json").read_text())["passed"] is True
    assert "✅ passed" in (tmp_path / "step-summary.md").read_text()

    # The same steps stop an image that runs as root: lint and gate both exit 1.
    (workspace / "Dockerfile").write_text(DOCKERFILE.replace("USER 1000:1000\n", ""))
    results = {name: run(script, workspace) for name, script in steps}
    assert results["Lint the Dockerfile"].returncode == 1
    assert "HB-DF-003" in results["Lint the Dockerfile"].stdout
    assert results["Gate"].returncode == 1
    assert "FAIL  does not run as root" in results["Gate"].stdout


@pytest.mark.slow
@pytest.mark.root
def test_gitlab_ci_example(workspace: Path) -> None:
    pipeline = workflow("gitlab-ci.md")
    stages = pipeline.pop("stages")
    assert isinstance(stages, list)
    jobs = sorted(((name, job) for name, job in pipeline.items() if isinstance(job, dict)),
                  key=lambda item: stages.index(item[1]["stage"]))  # fmt: skip
    assert [name for name, _ in jobs] == ["lint-dockerfile", "build-image", "gate-image"]
    for _, job in jobs:
        # before_script only installs hardbox and fetches advisories; the test provides both.
        for line in job.get("before_script", []):
            assert line.startswith(("pip install hardbox", "mkdir -p osv", "curl -sSfL -o osv/")), line
    for name, job in jobs:
        for line in job["script"]:
            proc = run(line, workspace)
            assert proc.returncode == 0, f"job {name}: {line}\n{proc.stdout}\n{proc.stderr}"
    junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads the JUnit XML")
    for _, job in jobs:
        report = job.get("artifacts", {}).get("reports", {}).get("junit")
        if report:
            (suite,) = list(junitparser.JUnitXml.fromfile(str(workspace / report)))
            assert suite.failures == 0
    for path in jobs[2][1]["artifacts"]["paths"]:
        assert (workspace / path).stat().st_size > 0
