"""Profile exports: the OCI fragment carries every hardening field, docker/podman flags say
the same, and the Kubernetes export of strict meets the Pod Security Standards "restricted"
level, checked control by control against the documented list
(https://kubernetes.io/docs/concepts/security/pod-security-standards/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardbox.errors import UsageError
from hardbox.gate.k8s.controls import controls_for
from hardbox.gate.k8s.manifests import load_manifests
from hardbox.runtime.profile.export import FORMATS, export
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.seccomp_model import SeccompPolicy


def pss_restricted_violations(pod: dict[str, Any], tmp_path: Path) -> list[str]:
    """Every control of the Baseline and Restricted levels, checked by the same controls
    `hardbox gate --k8s` runs (their list is compared with the PSS page in
    tests/unit/gate/test_k8s_controls.py)."""
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod))
    (workload,) = load_manifests(manifest).workloads
    return [f"{control.name}: {v.what}" for control in controls_for("restricted", ())
            for v in control.check(workload)]


def k8s_pod(profile_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    files = export(load_profile(profile_name), "k8s")
    return yaml.safe_load(files[f"{profile_name}-pod.yaml"]), files


def test_strict_k8s_export_meets_pss_restricted(tmp_path: Path) -> None:
    pod, files = k8s_pod("strict")
    assert pss_restricted_violations(pod, tmp_path) == []
    ctx = pod["spec"]["containers"][0]["securityContext"]
    assert ctx["seccompProfile"] == {"type": "Localhost", "localhostProfile": "hardbox/strict.json"}
    assert ctx["readOnlyRootFilesystem"] is True and ctx["capabilities"] == {"drop": ["ALL"]}
    # The Localhost profile is real seccomp JSON the runtime will load.
    profile = json.loads(files["strict.json"])
    assert SeccompPolicy.from_json(profile, "strict.json").default_errno_ret == 38


def test_the_checker_catches_a_default_export(tmp_path: Path) -> None:
    # default keeps Docker-like capabilities and runs as root: not "restricted".
    pod, _ = k8s_pod("default")
    problems = pss_restricted_violations(pod, tmp_path)
    assert any(p.startswith("Capabilities:") for p in problems), problems
    assert any(p.startswith("Running as Non-root:") for p in problems), problems


def test_oci_fragment_carries_every_hardening_field() -> None:
    config = json.loads(export(load_profile("strict"), "oci")["config.json"])
    caps = config["process"]["capabilities"]
    assert set(caps) == {"bounding", "effective", "inheritable", "permitted", "ambient"}
    assert all(v == [] for v in caps.values())
    assert config["process"]["noNewPrivileges"] is True
    assert config["root"]["readonly"] is True
    linux = config["linux"]
    assert {n["type"] for n in linux["namespaces"]} == {"pid", "ipc", "uts", "mount", "cgroup", "network", "user"}
    assert linux["uidMappings"][0]["containerID"] == 0 and linux["uidMappings"][0]["hostID"] > 0
    assert "/proc/kcore" in linux["maskedPaths"] and "/proc/sys" in linux["readonlyPaths"]
    assert linux["resources"]["memory"] == {"limit": 1 << 30, "swap": 1 << 30}
    assert linux["resources"]["pids"] == {"limit": 512}
    assert linux["resources"]["cpu"] == {"quota": 100000, "period": 100000}
    seccomp = linux["seccomp"]
    # OCI format: resolved, so no Docker-only includes/excludes keys remain.
    assert all("includes" not in r and "excludes" not in r for r in seccomp["syscalls"])
    assert seccomp["defaultErrnoRet"] == 38


def test_default_oci_resolves_seccomp_for_its_capabilities() -> None:
    config = json.loads(export(load_profile("default"), "oci")["config.json"])
    names = {n for r in config["linux"]["seccomp"]["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert "chroot" in names  # CAP_SYS_CHROOT is in default, so Docker's rule applies
    assert "mount" not in names
    assert "network" in {n["type"] for n in config["linux"]["namespaces"]}


def test_docker_flags_match_the_profile() -> None:
    files = export(load_profile("strict"), "docker")
    docker = files["docker-run.txt"]
    for flag in ("--cap-drop=ALL", "--security-opt=no-new-privileges", "--read-only",
                 "--network=none", "--security-opt=seccomp=strict-seccomp.json",
                 "--tmpfs=/tmp:rw,nosuid,nodev,noexec", "--pids-limit=512"):
        assert flag in docker
    assert "--cap-add" not in docker
    assert "--userns=auto" in files["podman-run.txt"]
    # A stock host has no ranges for podman's auto user namespaces: the export says what to add
    # (podman 4.3 here fails with "Cannot find mappings for user \"containers\"" without them).
    assert "/etc/subuid" in files["podman-run.txt"] and "containers" in files["podman-run.txt"]
    seccomp = json.loads(files["strict-seccomp.json"])
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO" and "archMap" in seccomp
    default = export(load_profile("default"), "docker")["docker-run.txt"]
    assert "--cap-add=CHOWN" in default and "--cap-add=NET_RAW" not in default


def test_every_format_is_wired_and_unknown_is_refused() -> None:
    for fmt in FORMATS:
        assert export(load_profile("default"), fmt)
    with pytest.raises(UsageError):
        export(load_profile("default"), "lxc")
