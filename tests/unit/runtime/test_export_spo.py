"""``profile export --format spo``: the Security Profiles Operator resources validate against
the CRDs SPO publishes (tests/fixtures/spo: the openAPIV3Schema of the version written, and
no field the API server would prune), the Pod against the Kubernetes API types
(kubernetes-validate), the Pod names what SPO installs, and the SELinux policy compiles
with secilc once wrapped the way SPO's raw-profile controller wraps it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from helpers.cli import need_tool

from hardbox.errors import InputError
from hardbox.resources import policies
from hardbox.runtime.profile.export import export
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.selinux_cil import policy_cil

SPO = Path(__file__).parents[2] / "fixtures" / "spo"
CRDS = {
    "SeccompProfile": SPO / "security-profiles-operator.x-k8s.io_seccompprofiles.yaml",
    "RawSelinuxProfile": SPO / "security-profiles-operator.x-k8s.io_rawselinuxprofiles.yaml",
}
# The Kubernetes release kubernetes-validate's newest schemas describe (pinned in pyproject).
K8S_VERSION = kubernetes_validate.latest_version()


def crd_schema(kind: str, api_version: str) -> dict[str, Any]:
    crd = yaml.safe_load(CRDS[kind].read_text())
    assert crd["spec"]["names"]["kind"] == kind
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            assert entry["served"], f"{kind} {version} is no longer served"
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{kind}: the CRD has no version {version}")


def pruned_fields(doc: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields a structural schema does not declare: the API server drops them silently
    (CRD pruning), so an export carrying one would lose it without an error."""
    if isinstance(doc, dict) and "properties" in schema:
        out = []
        for key, value in doc.items():
            if key not in schema["properties"]:
                out.append(f"{where}.{key}")
            else:
                out += pruned_fields(value, schema["properties"][key], f"{where}.{key}")
        return out
    if isinstance(doc, list) and "items" in schema:
        return [p for i, item in enumerate(doc) for p in pruned_fields(item, schema["items"], f"{where}[{i}]")]
    return []


def spo_documents(name: str) -> list[dict[str, Any]]:
    files = export(load_profile(name), "spo")
    assert list(files) == [f"{name}-spo.yaml"]
    return list(yaml.safe_load_all(files[f"{name}-spo.yaml"]))


@pytest.mark.parametrize("name", ["strict", "default"])
def test_resources_validate_against_the_spo_crds(name: str) -> None:
    docs = spo_documents(name)
    assert [d["kind"] for d in docs] == ["SeccompProfile", "RawSelinuxProfile", "Pod"]
    for doc in docs[:2]:
        schema = crd_schema(doc["kind"], doc["apiVersion"])
        jsonschema.Draft7Validator(schema).validate(doc)
        assert pruned_fields(doc, schema) == []


def test_the_checks_catch_a_bad_resource() -> None:
    seccomp = spo_documents("strict")[0]
    schema = crd_schema("SeccompProfile", seccomp["apiVersion"])
    bad = json.loads(json.dumps(seccomp))
    bad["spec"]["syscalls"][0]["action"] = "SCMP_ACT_NOPE"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(bad)
    bad = json.loads(json.dumps(seccomp))
    bad["spec"]["defaultErrnoRet"] = 38
    assert pruned_fields(bad, schema) == [".spec.defaultErrnoRet"]


@pytest.mark.parametrize("name", ["strict", "default"])
def test_pod_validates_against_the_kubernetes_api_and_names_what_spo_installs(name: str) -> None:
    seccomp, selinux, pod = spo_documents(name)
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    resource = seccomp["metadata"]["name"]
    assert resource == selinux["metadata"]["name"] == f"hardbox-{name}"
    # SPO >= 0.9 (cluster-scoped profiles) writes NAME.json under the kubelet's seccomp/operator.
    expected = {"type": "Localhost", "localhostProfile": f"operator/{resource}.json"}
    assert pod["spec"]["securityContext"]["seccompProfile"] == expected
    assert all(c["securityContext"]["seccompProfile"] == expected for c in pod["spec"]["containers"])
    # The raw controller wraps the policy as (block NAME_NAMESPACE …), the namespace empty.
    assert pod["spec"]["securityContext"]["seLinuxOptions"] == {"type": f"{resource}_.process"}


def test_seccomp_rules_are_the_k8s_exports() -> None:
    localhost = json.loads(export(load_profile("strict"), "k8s")["strict.json"])
    spec = spo_documents("strict")[0]["spec"]
    assert spec["defaultAction"] == localhost["defaultAction"]
    assert spec["architectures"] == localhost["architectures"]
    assert spec["syscalls"] == localhost["syscalls"]


def test_selinux_policy_is_the_modules_block_and_compiles_as_spo_wraps_it(tmp_path: Path) -> None:
    profile = load_profile("default")
    _, selinux, _ = spo_documents("default")
    policy = selinux["spec"]["policy"]
    module = policy_cil({}, profile, name="x")
    lines = module.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("(block "))
    assert lines[-1] == ")"
    inner = [line.removeprefix("    ") for line in lines[start + 1:-1]]
    assert policy.splitlines() == inner
    assert "(blockinherit container)" in policy and "(block " not in policy
    need_tool("secilc")
    name = selinux["metadata"]["name"]
    # rawselinuxprofile.go's profileWrapper, the namespace of a cluster-scoped object empty.
    (tmp_path / "spo.cil").write_text(f"(block {name}_\n    {policy.strip()}\n)\n")
    selinux_dir = Path(str(policies())) / "selinux"
    proc = subprocess.run(
        ["secilc", "-o", str(tmp_path / "policy.bin"), "-f", "/dev/null",
         str(selinux_dir / "base.cil"), str(selinux_dir / "templates.cil"), str(tmp_path / "spo.cil")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_an_argument_the_crd_cannot_hold_is_refused(tmp_path: Path) -> None:
    seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2**64 - 1, "op": "SCMP_CMP_EQ"}]}]}  # fmt: skip
    (tmp_path / "big.seccomp.json").write_text(json.dumps(seccomp))
    (tmp_path / "big.yaml").write_text("extends: strict\nname: big\nseccomp: ./big.seccomp.json\n")
    profile = load_profile(str(tmp_path / "big.yaml"))
    with pytest.raises(InputError, match=r"personality.*does not fit"):
        export(profile, "spo")


def test_the_egress_network_policy_comes_along(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(
        "extends: default\nname: web\nnetwork:\n  mode: private\n  egress:\n    default: deny\n"
        "    allow:\n      - {cidr: 10.20.0.0/16, ports: [5432], proto: tcp}\n    dns: true\n"
    )
    profile = load_profile(str(tmp_path / "web.yaml"))
    docs = list(yaml.safe_load_all(export(profile, "spo")["web-spo.yaml"]))
    assert [d["kind"] for d in docs] == ["SeccompProfile", "RawSelinuxProfile", "Pod", "NetworkPolicy"]
    pod, policy = docs[2], docs[3]
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    assert policy == yaml.safe_load(export(profile, "k8s")["web-networkpolicy.yaml"])
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
