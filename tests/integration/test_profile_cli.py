"""`hardbox profile ...` as a user runs it: real subprocesses, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_tool

from hardbox.cli.main import COMMANDS
from hardbox.resources import policies


def test_profile_and_bundle_are_registered() -> None:
    assert "profile" in COMMANDS and "bundle" in COMMANDS
    for args in (["profile", "--help"], ["bundle", "--help"], ["profile", "export", "--help"]):
        proc = hardbox(*args)
        assert proc.returncode == 0 and "usage:" in proc.stdout


def test_list_and_show_json() -> None:
    listed = json.loads(hardbox("profile", "list", "--json", check=True).stdout)
    assert {p["name"] for p in listed} >= {"default", "strict"}
    shown = json.loads(hardbox("profile", "show", "strict", "--json", check=True).stdout)
    assert shown["capabilities"] == [] and shown["network"]["mode"] == "none" and shown["strict"] is True
    assert shown["network"]["egress"] == {"default": "allow", "allow": [], "dns": False}
    assert shown["extends"] == ["default"]
    human = hardbox("profile", "show", "default", check=True).stdout
    assert "CAP_CHOWN" in human and "CAP_NET_RAW" not in human


def test_validate_good_and_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "web.yaml"
    good.write_text("extends: default\ncapabilities: [NET_BIND_SERVICE]\n")
    proc = hardbox("profile", "validate", str(good))
    assert proc.returncode == 0 and "ok" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: strict\ndescription: web\nnetwork: host\n")
    proc = hardbox("profile", "validate", str(bad))
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert first == f"hardbox: profile {bad}:3: network: host network is refused under strict"
    proc = hardbox("profile", "validate", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_diff_json() -> None:
    diff = json.loads(hardbox("profile", "diff", "default", "strict", "--json", check=True).stdout)
    assert diff["network.mode"] == {"a": "private", "b": "none"}
    assert diff["read_only_root"] == {"a": False, "b": True}
    assert "masked_paths" not in diff  # inherited, so equal


def test_export_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    hardbox("profile", "export", "strict", "--format", "k8s", "-o", str(out), check=True)
    assert sorted(p.name for p in out.iterdir()) == ["strict-pod.yaml", "strict.json"]
    printed = hardbox("profile", "export", "default", "--format", "oci", check=True).stdout
    assert json.loads(printed)["process"]["noNewPrivileges"] is True
    proc = hardbox("profile", "export", "default", "--format", "lxc")
    assert proc.returncode == 2


@pytest.mark.slow
def test_selinux_module_for_an_image_compiles(
    hardbox_root: Path, busybox_layout: imagebuild.OciImage, tmp_path: Path
) -> None:
    need_tool("secilc")
    module = tmp_path / "bb.cil"
    hardbox("profile", "selinux", f"oci:{busybox_layout.ref}", "--profile", "default",
            "-v", "/srv/data:/data:ro", "-o", str(module), check=True)
    text = module.read_text()
    assert "(blockinherit container)" in text and "/srv/data -> /data (ro)" in text
    selinux = Path(str(policies())) / "selinux"
    proc = subprocess.run(
        ["secilc", "-o", str(tmp_path / "policy.bin"), "-f", "/dev/null",
         str(selinux / "base.cil"), str(selinux / "templates.cil"), str(module)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


def test_validate_names_a_bad_egress_value_and_exits_2(tmp_path: Path) -> None:
    cases = {
        "ports: [70000]": "network.egress.allow.0.ports.0: 70000 is greater than the maximum of 65535",
        "proto: icmp": "network.egress.allow.0.proto: 'icmp' is not one of ['tcp', 'udp', 'any']",
        "cidr: 10.1.2.0/33": "network.egress.allow.0.cidr: egress cidr '10.1.2.0/33' does not parse",
    }
    for rule, named in cases.items():
        cidr = "" if rule.startswith("cidr") else "cidr: 10.0.0.0/8, "
        bad = tmp_path / "bad.yaml"
        bad.write_text(f"extends: default\nnetwork:\n  egress:\n    default: deny\n    allow:\n      - {{{cidr}{rule}}}\n")
        proc = hardbox("profile", "validate", str(bad))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines()[0].startswith(f"hardbox: profile {bad}:6: {named}"), proc.stderr
