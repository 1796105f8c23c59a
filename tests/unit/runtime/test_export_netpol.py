"""The egress policy in exports: a Kubernetes NetworkPolicy that the Kubernetes API schema
accepts (kubernetes-validate) and that says what the profile says, selecting the exported
Pod; the Docker and Podman exports say in a comment that they cannot carry it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helpers.profiles import egress_profile

from hardbox.runtime.profile.export import export
from hardbox.runtime.profile.load import load_profile

K8S_VERSION = kubernetes_validate.latest_version()

POLICY = egress_profile(
    "{cidr: 10.20.0.0/16, ports: [5432], proto: tcp}",
    '{cidr: "::/0", ports: [443, 8443]}',
    "{cidr: 192.0.2.10}",
    "{cidr: 198.51.100.0/24, proto: udp}",
    "{cidr: host-gateway, ports: [6379], proto: tcp}",
    dns=True,
)


def exported(tmp_path: Path, text: str, fmt: str) -> dict[str, str]:
    path = tmp_path / "web.yaml"
    path.write_text(text)
    return export(load_profile(str(path), cache_dir=tmp_path / "cache"), fmt)


def test_k8s_export_carries_the_policy_as_a_valid_network_policy(tmp_path: Path) -> None:
    files = exported(tmp_path, POLICY, "k8s")
    assert set(files) == {"web-pod.yaml", "web.json", "web-networkpolicy.yaml"}
    text = files["web-networkpolicy.yaml"]
    policy: dict[str, Any] = yaml.safe_load(text)
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    pod = yaml.safe_load(files["web-pod.yaml"])
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    # It selects the exported Pod, and only egress.
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["egress"] == [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
         "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"to": [{"ipBlock": {"cidr": "::/0"}}],
         "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 443},
                   {"protocol": "TCP", "port": 8443}, {"protocol": "UDP", "port": 8443}]},
        {"to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}]},
        {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"protocol": "UDP"}]},
    ]
    assert "host-gateway rules are left out" in text and "network plugin" in text


def test_a_policy_that_allows_nothing_denies_all_egress(tmp_path: Path) -> None:
    files = exported(tmp_path, "extends: default\nnetwork: {mode: private, egress: {default: deny}}\n", "k8s")
    policy = yaml.safe_load(files["web-networkpolicy.yaml"])
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    assert policy["spec"]["egress"] == []  # Egress selected, nothing listed: nothing allowed


@pytest.mark.parametrize("name", ["default", "strict"])
def test_no_policy_no_network_policy(name: str) -> None:
    assert not any(f.endswith("-networkpolicy.yaml") for f in export(load_profile(name), "k8s"))
    assert not any("egress" in text for text in export(load_profile(name), "docker").values())


def test_docker_and_podman_say_they_cannot_carry_it(tmp_path: Path) -> None:
    files = exported(tmp_path, POLICY, "docker")
    for engine in ("docker", "podman"):
        first_lines = [line for line in files[f"{engine}-run.txt"].splitlines() if line.startswith("#")]
        assert any("egress policy (default deny, 5 allow rules) cannot be carried by "
                   f"{engine} run flags" in line for line in first_lines), first_lines


def test_the_checks_catch_a_bad_network_policy(tmp_path: Path) -> None:
    policy = yaml.safe_load(exported(tmp_path, POLICY, "k8s")["web-networkpolicy.yaml"])
    policy["spec"]["egress"][1]["ports"][0]["port"] = {"not": "a port"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
