"""``hardbox gate --k8s MANIFEST`` through the real CLI: the exit codes and reports of
``hardbox gate`` (SARIF validated against the OASIS schema, with the manifest path and the
field's line as the result's region; JUnit with one test case per control; Markdown; JSON),
the policy's ``kubernetes`` section and exceptions, hardbox's own Kubernetes exports judged,
and hostile manifests (malformed YAML, an alias bomb, a huge file, deep nesting) refused in
one line naming the file, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from helpers.cli import hardbox
from helpers.k8s import restricted_container

SARIF_SCHEMA = Path(__file__).parents[1] / "unit" / "report" / "sarif-schema-2.1.0.json"

GOOD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
""" + restricted_container("api", "registry.example/api:2", indent=2)
# Line 16 is the one hostPath: the finding's region must say so.
BAD = GOOD + """\
    volumeMounts:
    - {name: docker, mountPath: /var/run/docker.sock}
  volumes:
  - name: docker
    hostPath: {path: /var/run/docker.sock}
"""
HOSTPATH_LINE = BAD.splitlines().index("    hostPath: {path: /var/run/docker.sock}") + 1


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_compliant_manifest_passes(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    proc = hardbox("gate", "--k8s", str(tmp_path / "good.yaml"), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    decision = json.loads(proc.stdout)
    assert decision["passed"] is True and len(decision["rules"]) == 19
    assert "all 19 rules passed" in proc.stderr


def test_a_violation_fails_with_every_report_naming_path_and_line(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD)
    out = {fmt: tmp_path / f"gate.{fmt}" for fmt in ("sarif", "junit", "markdown", "json")}
    proc = hardbox("gate", "--k8s", str(manifest), *(a for fmt, p in out.items() for a in (f"--{fmt}", str(p))))
    assert proc.returncode == 1, proc.stderr
    assert "HB-K8S-005: HostPath Volumes" in proc.stdout and f"at {manifest}:{HOSTPATH_LINE}" in proc.stdout

    log = json.loads(out["sarif"].read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    assert set(results) == {"HB-K8S-005", "HB-K8S-013"}  # hostPath is also outside restricted's volume types
    physical = results["HB-K8S-005"]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == manifest.as_uri()  # a host file, not one in an image
    assert physical["region"] == {"startLine": HOSTPATH_LINE}
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["HB-K8S-005"]["helpUri"].endswith("docs/kubernetes.md#the-controls")

    junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads the JUnit XML")
    (suite,) = list(junitparser.JUnitXml.fromfile(str(out["junit"])))
    assert suite.tests == 19 and suite.failures == 2
    assert "HostPath Volumes" in out["markdown"].read_text()
    decision = json.loads(out["json"].read_text())
    [rule] = [r for r in decision["rules"] if r["rule"] == "k8s-baseline/hostpath-volumes"]
    assert rule["findings"][0]["path"] == str(manifest)
    assert rule["findings"][0]["extra"]["line"] == HOSTPATH_LINE


def test_the_policy_section_and_exceptions_decide(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: k8s-baseline\nkubernetes:\n  pod_security: baseline\n  require: []\n")
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text(
        "version: 1\nexceptions:\n- check: HB-K8S-005\n  reason: the log shipper reads the docker socket\n"
        "  approved_by: sec-team\n  expires: 2099-01-01\n"
    )
    # baseline alone: only the hostPath control fails, the writable root is not asked about.
    proc = hardbox("gate", "--k8s", str(manifest), "--policy", str(policy), "--json", "-")
    assert proc.returncode == 1, proc.stderr
    failed = [r["rule"] for r in json.loads(proc.stdout)["rules"] if not r["passed"]]
    assert failed == ["k8s-baseline/hostpath-volumes"]
    proc = hardbox("gate", "--k8s", str(manifest), "--policy", str(policy), "--exceptions", str(exceptions))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "waived HB-K8S-005" in proc.stdout
    policy.write_text("version: 1\nname: k8s\nkubernetes:\n  pod_security: baseline\n  require: [read-only-root-filesystem]\n")
    proc = hardbox("gate", "--k8s", str(manifest), "--policy", str(policy), "--exceptions", str(exceptions))
    assert proc.returncode == 1 and "HB-K8S-019" in proc.stdout


def test_hardbox_exports_are_judged(tmp_path: Path) -> None:
    hardbox("profile", "export", "strict", "--format", "k8s", "-o", str(tmp_path / "k8s"), check=True)
    proc = hardbox("gate", "--k8s", str(tmp_path / "k8s" / "strict-pod.yaml"))
    assert proc.returncode == 0, proc.stdout
    # The SPO Pod's SELinux type is SPO's module, outside the baseline's list: only that fails.
    hardbox("profile", "export", "strict", "--format", "spo", "-o", str(tmp_path / "spo"), check=True)
    proc = hardbox("gate", "--k8s", str(tmp_path / "spo" / "strict-spo.yaml"), "--json", "-")
    assert proc.returncode == 1
    decision = json.loads(proc.stdout)
    assert [r["rule"] for r in decision["rules"] if not r["passed"]] == ["k8s-baseline/selinux"]
    assert any("SeccompProfile hardbox-strict (no pod template)" in n for n in decision["notes"])


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
) + "kind: Pod\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("kind: Pod\nspec: [unclosed\n", r"manifest {path}:\d+: not valid YAML"),
    (BOMB, r"manifest {path}:1: b\.0: YAML aliases are not allowed here"),
    ("kind: Pod\nspec: " + "[" * 1000 + "]" * 1000 + "\n", r"manifest {path}:\d+: nested deeper than 100 levels"),
    ("kind: Pod\nkind: Pod\n", r"manifest {path}:2: kind: key given twice"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", r"manifest {path}: no Pod, Deployment"),
])
def test_hostile_manifests_are_one_line_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    import re

    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    proc = hardbox("gate", "--k8s", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(expected.format(path=re.escape(str(path))), one_line(proc.stderr)), proc.stderr


def test_a_huge_manifest_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as out:
        out.write("kind: Pod\nmetadata:\n  annotations:\n")
        for i in range(400_000):
            out.write(f"    k{i}: '{'x' * 40}'\n")
    proc = hardbox("gate", "--k8s", str(path))
    assert proc.returncode == 2
    assert f"manifest {path}: larger than" in one_line(proc.stderr)


def test_image_options_do_not_go_with_k8s(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    proc = hardbox("gate", "busybox", "--k8s", str(tmp_path / "good.yaml"))
    assert proc.returncode == 2 and "IMAGE cannot go with it" in one_line(proc.stderr)
    proc = hardbox("gate")
    assert proc.returncode == 2 and "gate needs an IMAGE or --k8s MANIFEST" in one_line(proc.stderr)


def test_a_relative_manifest_is_a_repository_file_in_sarif(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "bad.yaml").write_text(BAD)
    proc = hardbox("gate", "--k8s", "deploy/bad.yaml", "--sarif", "-", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    [result, _] = json.loads(proc.stdout)["runs"][0]["results"]
    physical = result["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "deploy/bad.yaml"}, "region": {"startLine": HOSTPATH_LINE}}


def test_stdin_is_a_manifest_too() -> None:
    proc = hardbox("gate", "--k8s", "-", "--json", "-", input=BAD)
    assert proc.returncode == 1, proc.stderr
    [rule] = [r for r in json.loads(proc.stdout)["rules"] if r["rule"] == "k8s-baseline/hostpath-volumes"]
    assert rule["findings"][0]["path"] == "-" and rule["findings"][0]["extra"]["line"] == HOSTPATH_LINE
    proc = hardbox("gate", "--k8s", "-", input="kind: Pod\nspec: [\n")
    assert proc.returncode == 2 and "manifest -:" in proc.stderr
