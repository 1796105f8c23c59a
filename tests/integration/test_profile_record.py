"""`hardbox profile record`: a seccomp allowlist recorded from a real run, verified, and enforced.

Real workloads: busybox `httpd` serving one request to a probe exec'd into the container,
and the Debian minbase image's bash running `ls; getent passwd`. Each recorded profile is
loaded by hardbox as any profile is, compared with strict, run again, and shown to refuse
calls the workload never made.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, build_probes, make_store

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def store(busybox_layout, debian_layout, tmp_path_factory) -> RunStore:
    s = make_store(tmp_path_factory.mktemp("record") / "store", busybox_layout.ref)
    proc = s.hardbox("image", "import", debian_layout.ref, "--tag", "debtest", timeout=600)
    assert proc.returncode == 0, proc.stderr
    return s


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("probes")
    os.chmod(base, 0o755)
    return build_probes(base / "bin")


def allowed(seccomp_json: Path) -> set[str]:
    data = json.loads(seccomp_json.read_text())
    return {n for rule in data["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}


def strict_count(store: RunStore) -> int:
    out = store.hardbox("profile", "diff", "strict", "default").stdout
    line = next(line for line in out.splitlines() if line.startswith("seccomp: strict allows"))
    return int(line.split()[3])


def record(store: RunStore, out: Path, *args: str) -> None:
    proc = store.hardbox("profile", "record", "-o", str(out), *args, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.with_name(out.stem + ".seccomp.json").is_file()


def test_record_busybox_httpd_with_a_probe(store, tmp_path, probes):
    www = ("mkdir -p /tmp/www && echo recorded-page > /tmp/www/index.html && "
           "exec httpd -f -p 127.0.0.1:8080 -h /tmp/www")
    # Until httpd listens (a loaded machine may take more than a second to start it); the
    # first sleep always runs, so the recording holds every call a retry makes.
    fetch = "sleep 1; for i in $(seq 100); do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1"
    out = tmp_path / "httpd.yaml"
    record(store, out, "--from", "default", "--duration", "20s",
           "--probe", fetch, "bbtest", "sh", "-c", www)
    text = out.read_text()
    assert "seccomp: \"./httpd.seccomp.json\"" in text and 'extends: "default"' in text
    names = allowed(tmp_path / "httpd.seccomp.json")
    assert {"accept", "bind", "listen", "socket"} <= names  # what a server does
    assert "unshare" not in names and "mount" not in names and "ptrace" not in names
    assert len(names) * 3 < strict_count(store), "a recorded profile is much smaller than strict"
    # The profile loads as any profile does, by relative path, and diff counts it.
    diff = store.hardbox("profile", "diff", "strict", str(out)).stdout
    assert f"seccomp: strict allows {strict_count(store)} syscalls, {out} {len(names)}" in diff
    # The workload passes under it: the page is served again.
    cid = store.hardbox("run", "-d", "--profile", str(out), "bbtest", "sh", "-c", www).stdout.strip()
    try:
        got = store.hardbox("exec", cid, "sh", "-c", fetch)
        assert got.stdout.strip() == "recorded-page", got.stderr
    finally:
        store.hardbox("rm", "-f", cid)
    # Calls it never made are refused with EPERM (the probe prints "name errno").
    denied = store.hardbox("run", "--rm", "--profile", str(out), "-v", f"{probes}:/probe:ro",
                           "bbtest", "/probe/syscalls")
    assert {"unshare 1", "mount 1"} <= set(denied.stdout.splitlines()), denied.stdout + denied.stderr


def test_record_debian_bash(store, tmp_path):
    out = tmp_path / "bash.yaml"
    record(store, out, "debtest", "bash", "-c", "ls; getent passwd")
    names = allowed(tmp_path / "bash.seccomp.json")
    assert len(names) * 3 < strict_count(store)
    again = store.hardbox("run", "--rm", "--profile", str(out), "debtest", "bash", "-c", "ls; getent passwd")
    assert again.returncode == 0 and "root:x:0:0" in again.stdout, again.stderr
    # A call bash never made under the recording, allowed by default, is now EPERM.
    assert "unshare" not in names
    refused = store.hardbox("run", "--rm", "--profile", str(out), "debtest", "bash", "-c",
                            "unshare --user true; echo status=$?")
    assert "Operation not permitted" in refused.stdout + refused.stderr or "status=1" in refused.stdout


def test_a_profile_that_fails_verification_is_not_written(store, tmp_path):
    """A workload whose output differs between two runs cannot be verified: nothing written."""
    out = tmp_path / "flaky.yaml"
    proc = store.hardbox("profile", "record", "-o", str(out), "bbtest", "sh", "-c",
                         "cat /proc/sys/kernel/random/uuid", timeout=600)
    assert proc.returncode == 125
    assert "failed verification" in proc.stderr
    assert not out.exists() and not (tmp_path / "flaky.seccomp.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no scratch left either


def test_record_errors_are_125_and_one_line(store, tmp_path):
    proc = store.hardbox("profile", "record", "-o", str(tmp_path / "x.yaml"), "no-such-image", "true")
    assert proc.returncode == 125
    assert len(proc.stderr.strip().splitlines()) <= 2
    proc = store.hardbox("profile", "record", "-o", str(tmp_path / "x.txt"), "bbtest", "true")
    assert proc.returncode == 125
