"""``gate --k8s`` controls: the list matches the Pod Security Standards page (kept in
tests/fixtures/k8s), a compliant Deployment passes every control, and one manifest per
control breaks exactly that control (and those that necessarily go with it), with the
finding on the line of the offending field. Every manifest here is first checked to be a
real Kubernetes object (kubernetes-validate, strict)."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helpers.k8s import restricted_container

from hardbox.errors import InputError
from hardbox.gate.k8s.controls import CONTROLS, REQUIREMENTS, controls_for
from hardbox.gate.k8s.manifests import load_manifests
from hardbox.gate.k8s.rules import ControlRule
from hardbox.gate.policy import K8S_REQUIREMENTS
from hardbox.gate.subject import Subject

PSS_PAGE = Path(__file__).parents[2] / "fixtures" / "k8s" / "pod-security-standards.md"
K8S_VERSION = kubernetes_validate.latest_version()

COMPLIANT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
      - name: app
        image: registry.example/web:1.0
        ports:
        - containerPort: 8080
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: [ALL]
        volumeMounts:
        - name: tmp
          mountPath: /tmp
      volumes:
      - name: tmp
        emptyDir: {}
"""
POD_SC = "      securityContext:\n        runAsNonRoot: true\n"
CONTAINER_SC = "        securityContext:\n          allowPrivilegeEscalation: false\n"
PORT = "        - containerPort: 8080\n"
VOLUME = "      - name: tmp\n        emptyDir: {}\n"

SECCOMP_TO_CONTAINER = ("        seccompProfile:\n          type: RuntimeDefault\n      containers:\n      - name: app\n"
                        "        image: registry.example/web:1.0\n        ports:\n        - containerPort: 8080\n"
                        "        securityContext:\n")

# case: (the control it breaks, controls that necessarily break with it, text replaced, the
# replacement with "# HERE" on the line the control's finding must name)
CASES: dict[str, tuple[str, set[str], str, str]] = {
    "host-process": ("HB-K8S-001", set(), CONTAINER_SC,
                     CONTAINER_SC + "          windowsOptions:\n            hostProcess: true  # HERE\n"),
    "host-namespaces": ("HB-K8S-002", set(), "      automountServiceAccountToken: false\n",
                        "      automountServiceAccountToken: false\n      hostPID: true  # HERE\n"),
    "privileged": ("HB-K8S-003", set(), CONTAINER_SC, CONTAINER_SC + "          privileged: true  # HERE\n"),
    "baseline-capabilities": ("HB-K8S-004", {"HB-K8S-018"}, "            drop: [ALL]\n",
                              "            drop: [ALL]\n            add: [SYS_ADMIN]  # HERE\n"),
    "host-path": ("HB-K8S-005", {"HB-K8S-013"}, VOLUME,
                  "      - name: tmp\n        hostPath:  # HERE\n          path: /var/run\n"),
    "host-ports": ("HB-K8S-006", set(), PORT, PORT + "          hostPort: 80  # HERE\n"),
    "host-probes": ("HB-K8S-007", set(), "        volumeMounts:\n",
                    "        readinessProbe:\n          httpGet:\n            host: 10.0.0.1  # HERE\n"
                    "            port: 8080\n        volumeMounts:\n"),
    "apparmor": ("HB-K8S-008", set(), CONTAINER_SC,
                 CONTAINER_SC + "          appArmorProfile:\n            type: Unconfined  # HERE\n"),
    "apparmor-annotation": ("HB-K8S-008", set(), "      labels: {app: web}\n",
                            "      labels: {app: web}\n      annotations:\n"
                            "        container.apparmor.security.beta.kubernetes.io/app: unconfined  # HERE\n"),
    "selinux": ("HB-K8S-009", set(), POD_SC, POD_SC + "        seLinuxOptions:\n          type: spc_t  # HERE\n"),
    "proc-mount": ("HB-K8S-010", set(), CONTAINER_SC, CONTAINER_SC + "          procMount: Unmasked  # HERE\n"),
    "seccomp-unconfined": ("HB-K8S-011", {"HB-K8S-017"}, "          type: RuntimeDefault\n",
                           "          type: Unconfined  # HERE\n"),
    "sysctls": ("HB-K8S-012", set(), POD_SC,
                POD_SC + "        sysctls:\n        - name: kernel.msgmax  # HERE\n          value: '65536'\n"),
    "volume-types": ("HB-K8S-013", set(), VOLUME,
                     "      - name: tmp  # HERE\n        nfs:\n          server: nfs.example\n          path: /srv\n"),
    "privilege-escalation": ("HB-K8S-014", set(), "          allowPrivilegeEscalation: false\n",
                             "          allowPrivilegeEscalation: true  # HERE\n"),
    "run-as-non-root": ("HB-K8S-015", set(), "        runAsNonRoot: true\n", "        runAsNonRoot: false  # HERE\n"),
    "run-as-root-user": ("HB-K8S-016", set(), CONTAINER_SC, CONTAINER_SC + "          runAsUser: 0  # HERE\n"),
    "seccomp-unset": ("HB-K8S-017", set(), SECCOMP_TO_CONTAINER,
                      SECCOMP_TO_CONTAINER.split("        seccompProfile:\n          type: RuntimeDefault\n")[1]
                      .replace("        securityContext:\n", "        securityContext:  # HERE\n")),
    "restricted-capabilities": ("HB-K8S-018", set(), "            drop: [ALL]\n",
                                "            drop: [NET_RAW]  # HERE\n"),
    "writable-root": ("HB-K8S-019", set(), "          readOnlyRootFilesystem: true\n",
                      "          readOnlyRootFilesystem: false  # HERE\n"),
}


def pss_page_controls() -> set[tuple[str, str]]:
    """(level, control) for every row of the page's Baseline and Restricted tables."""
    text = PSS_PAGE.read_text()
    out = set()
    for level in ("Baseline", "Restricted"):
        section = text.split(f"### {level}", 1)[1].split("</table>", 1)[0]
        for row in re.findall(r"<tr>\s*<td[^>]*>(.*?)</td>", section, re.S):
            name = re.sub(r"<[^>]+>", "", row).strip()
            name = re.sub(r"\s*\(v1\.\d+\+\)$", "", name)
            if name not in ("", "Control", "Everything from the Baseline policy"):
                out.add((level.lower(), name))
    return out


def test_the_controls_are_the_pod_security_standards_list() -> None:
    page = pss_page_controls()
    assert len(page) == 18  # 12 baseline + 6 restricted, as of Kubernetes 1.34
    assert {(c.level, c.name) for c in CONTROLS if c.level != "hardbox"} == page
    assert len({c.id for c in CONTROLS}) == len(CONTROLS)


def test_requirements_name_controls_and_the_policy_schema_agrees() -> None:
    assert set(REQUIREMENTS) == set(K8S_REQUIREMENTS)
    assert set(REQUIREMENTS.values()) <= {c.id for c in CONTROLS}
    everything = {c.id for c in CONTROLS}
    assert {c.id for c in controls_for("restricted", K8S_REQUIREMENTS)} == everything
    baseline = {c.id for c in controls_for("baseline", ())}
    assert baseline == {c.id for c in CONTROLS if c.level == "baseline"}
    # hardbox's requirements still checked under a baseline policy, each by its control.
    assert {c.id for c in controls_for("baseline", ("read-only-root-filesystem", "seccomp"))} == \
        baseline | {"HB-K8S-019", "HB-K8S-017"}
    assert controls_for("privileged", ()) == ()


def failing(path: Path) -> dict[str, list[int]]:
    """{control id: [lines]} of every control's findings on ``path``."""
    manifests = load_manifests(path)
    out: dict[str, list[int]] = {}
    for control in CONTROLS:
        findings = ControlRule(control, manifests).violations(Subject(name=str(path), id=""))
        if findings:
            assert all(f.path == str(path) and f.extra["source"] == "kubernetes" for f in findings)
            out[control.id] = [f.line or 0 for f in findings]
    return out


def write(tmp_path: Path, text: str) -> Path:
    for doc in filter(None, yaml.safe_load_all(text)):
        # A List has no schema of its own: its items are the objects.
        for obj in doc["items"] if doc["kind"] == "List" else [doc]:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    return path


def test_a_compliant_deployment_passes_every_control(tmp_path: Path) -> None:
    assert failing(write(tmp_path, COMPLIANT)) == {}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_violation_fails_its_control_on_its_line(case: str, tmp_path: Path) -> None:
    control, along, old, new = CASES[case]
    assert COMPLIANT.count(old) == 1, "the case must change one place"
    text = COMPLIANT.replace(old, new)
    here = next(i for i, line in enumerate(text.splitlines(), 1) if "# HERE" in line)
    found = failing(write(tmp_path, text))
    assert set(found) == {control, *along}
    assert found[control][0] == here  # the field that breaks it first (a pod-level one may pull its containers along)


def test_every_control_has_a_case() -> None:
    assert {control for control, _, _, _ in CASES.values()} == {c.id for c in CONTROLS}


def test_multi_document_stream_init_containers_and_cronjobs(tmp_path: Path) -> None:
    cronjob = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          securityContext:
            runAsNonRoot: true
            seccompProfile: {type: RuntimeDefault}
          initContainers:
""" + restricted_container("setup", "registry.example/setup:1", indent=10, also=("privileged: true",)) + """\
          containers:
""" + restricted_container("job", "registry.example/job:1", indent=10)
    service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"
    text = f"---\n# rendered by a chart: an empty document first\n---\n{service}---\n{COMPLIANT}---\n{cronjob}"
    path = write(tmp_path, text)
    manifests = load_manifests(path)
    assert [w.describe() for w in manifests.workloads] == ["Deployment web", "CronJob nightly"]
    assert manifests.not_checked == ("document 2: Service web (no pod template)",)
    assert [w.number for w in manifests.workloads] == [3, 4]
    privileged_line = next(i for i, line in enumerate(text.splitlines(), 1) if "privileged: true" in line)
    assert failing(path) == {"HB-K8S-003": [privileged_line]}
    [finding] = ControlRule(CONTROLS[2], manifests).violations(Subject(name="", id=""))
    assert finding.extra["field"] == "spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.privileged"
    assert finding.extra["object"] == "CronJob/nightly"


def test_a_list_counts_as_its_items(tmp_path: Path) -> None:
    deployment = yaml.safe_load(COMPLIANT)
    bad = yaml.safe_load(COMPLIANT.replace(CONTAINER_SC, CONTAINER_SC + "          privileged: true\n"))
    bad["metadata"]["name"] = "worker"
    listing = {"apiVersion": "v1", "kind": "List", "items": [deployment, {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}, bad]}
    text = yaml.safe_dump(listing, sort_keys=False)
    path = write(tmp_path, text)
    manifests = load_manifests(path)
    assert [w.describe() for w in manifests.workloads] == ["Deployment web", "Deployment worker"]
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "privileged: true" in t)
    assert failing(path) == {"HB-K8S-003": [line]}
    [finding] = ControlRule(CONTROLS[2], manifests).violations(Subject(name="", id=""))
    assert finding.extra["field"] == "items[2].spec.template.spec.containers[0].securityContext.privileged"


def test_container_level_settings_stand_in_for_the_pods(tmp_path: Path) -> None:
    # No pod-level runAsNonRoot or seccompProfile: each container sets its own.
    text = COMPLIANT.replace(POD_SC, "      securityContext:\n").replace(
        "        seccompProfile:\n          type: RuntimeDefault\n", "").replace(
        CONTAINER_SC, CONTAINER_SC + "          runAsNonRoot: true\n          seccompProfile:\n"
        "            type: Localhost\n            localhostProfile: operator/web.json\n")
    assert failing(write(tmp_path, text)) == {}


@pytest.mark.parametrize(("text", "message"), [
    ("kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: 5\n",
     r"manifest .*:6: spec\.template\.spec\.containers: expected a list"),
    ("kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    securityContext: yes\n",
     r":6: spec\.containers\.0\.securityContext: expected a mapping"),
    ("kind: Deployment\nmetadata: {name: x}\nspec: {}\n", r"a Deployment needs a pod spec here"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", r"no Pod, Deployment.*found Service"),
    ("- just\n- a list\n", r"document 1 is not a YAML mapping"),
    ("kind: Pod\n---\n" * 5001, r"more than 5000 YAML documents"),
])
def test_malformed_workloads_are_one_error_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_manifests(path)
