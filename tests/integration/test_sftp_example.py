"""The talk's SFTP server, end to end (docs/examples/sftp, policies/profiles/sftp.yaml).

The image is built once per session by buildah from the example's own Dockerfile, on a
Debian base made from the debootstrap rootfs the other Debian tests use (there is no
registry to pull debian:bookworm-slim from here: the base is committed into buildah's vfs
store under a local name and passed as the BASE build-arg); its RUN steps install Debian's
openssh-server from the Debian mirror. It runs as `hardbox run -d --profile sftp -p
2222:22`; the real OpenSSH `sftp` client logs in with a key, uploads and downloads a file and
compares the bytes. The container cannot open an outbound connection (its namespace is
wired to a test "internet" where a server listens: the connection is rejected at once and
never arrives). `hardbox scan` and `hardbox gate` of the same image report what the talk
warns about: port 22 and an SSH server, root, and no secrets (the host keys are not shipped).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import need_root, need_tool
from helpers.hbrun import RunStore
from helpers.imagebuild import run
from helpers.testnet import SERVER, build_tools, internet, parse_probe, seen, wire

pytestmark = [pytest.mark.root, pytest.mark.network, pytest.mark.slow]

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "sftp"
TAG = "hardbox-test/sftp-server:1"
HOST_PORT = 2222


def buildah_env(work: Path) -> tuple[list[str], dict[str, str]]:
    storage = ["--storage-driver", "vfs", "--root", str(work / "storage"), "--runroot", str(work / "run")]
    return storage, {**os.environ, "BUILDAH_ISOLATION": "chroot", "STORAGE_DRIVER": "vfs"}


def _no_device_nodes(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # debootstrap leaves /dev populated; a Debian image's /dev is empty (the runtime fills it).
    return None if info.isdev() else info


@pytest.fixture(scope="session")
def sftp_archive(debian_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example built by buildah (vfs storage, chroot isolation) as a docker-archive."""
    need_tool("buildah")
    work = tmp_path_factory.mktemp("sftp-build")
    storage, env = buildah_env(work)
    base = work / "debian-minbase.tar"
    with tarfile.open(base, "w") as tar:
        tar.add(debian_rootfs, arcname=".", filter=_no_device_nodes)
    try:
        ctr = run(["buildah", *storage, "from", "scratch"], env=env).stdout.strip()
        run(["buildah", *storage, "add", ctr, str(base), "/"], env=env)
        run(["buildah", *storage, "config", "--cmd", "/bin/bash", "--created-by",
             "debootstrap --variant=minbase bookworm", ctr], env=env)
        run(["buildah", *storage, "commit", "-q", ctr, "localhost/debian-minbase:bookworm"], env=env)
        run(["buildah", *storage, "rm", ctr], env=env)
        run(["buildah", *storage, "bud", "-q", "--isolation", "chroot", "--pull-never",
             "--build-arg", "BASE=localhost/debian-minbase:bookworm", "-t", f"localhost/{TAG}", str(EXAMPLE)],
            env=env, timeout=900)
        archive = work / "sftp-server.tar"
        run(["buildah", *storage, "push", "-q", f"localhost/{TAG}", f"docker-archive:{archive}:{TAG}"], env=env)
        yield archive
    finally:
        subprocess.run(["buildah", *storage, "rmi", "--all", "--force"], capture_output=True, env=env, check=False)


@pytest.fixture(scope="module")
def store(sftp_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    need_root()
    store = RunStore(tmp_path_factory.mktemp("sftp") / "store")
    proc = store.hardbox("image", "import", str(sftp_archive), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return store


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("ssh-keygen", "sftp")
    key = tmp_path_factory.mktemp("client") / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hardbox-test", "-f", str(key)])
    return key


@pytest.fixture(scope="module")
def server(store: RunStore, client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The example, as its README runs it: (container id, PID 1's host pid)."""
    tools = build_tools(tmp_path_factory.mktemp("tools"))
    proc = store.hardbox("run", "-d", "--name", "sftp", "--profile", "sftp", "-p", f"{HOST_PORT}:22",
                         "-e", f"SFTP_AUTHORIZED_KEYS={client_key.with_suffix('.pub').read_text().strip()}",
                         "-v", f"{tools}:/tools:ro", TAG)
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    try:
        deadline = time.monotonic() + 60
        # Ready once sshd says so (it makes its host keys first); pasta accepts on the host
        # port before that and would reset the connection.
        while "Server listening on 0.0.0.0 port 22" not in (logs := store.hardbox("logs", cid)).stdout + logs.stderr:
            assert time.monotonic() < deadline, logs.stdout + logs.stderr
            time.sleep(0.2)
        state = next(s for s in json.loads(store.hardbox("ps", "--json").stdout) if s["id"] == cid)
        yield cid, int(state["pid"])
    finally:
        store.hardbox("rm", "-f", cid)


def sftp(client_key: Path, work: Path, *commands: str) -> subprocess.CompletedProcess[str]:
    batch = work / "batch"
    batch.write_text("".join(f"{c}\n" for c in commands))
    return subprocess.run(
        ["sftp", "-b", str(batch), "-i", str(client_key), "-P", str(HOST_PORT),
         "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={work / 'known_hosts'}",
         "-o", "IdentitiesOnly=yes", "sftp@127.0.0.1"],
        cwd=work, capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_profile_runs_sshd_with_four_capabilities_and_no_way_out(store: RunStore) -> None:
    proc = store.hardbox("run", "--explain", "--json", "--profile", "sftp", TAG)
    assert proc.returncode == 0, proc.stderr
    steps = {s["step"]: s for s in json.loads(proc.stdout)["steps"]}
    assert steps["capabilities"]["setting"].startswith(
        "bounding, permitted, effective = CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_NET_BIND_SERVICE ")
    assert steps["egress"]["status"] == "applied"
    assert steps["egress"]["setting"].startswith("reject every connection the container opens, at once")


def test_upload_and_download_with_the_real_sftp_client(store: RunStore, server: tuple[str, int], client_key: Path,
                                                       tmp_path: Path) -> None:
    cid, _ = server
    data = os.urandom(1 << 20)
    (tmp_path / "up.bin").write_bytes(data)
    proc = sftp(client_key, tmp_path, "put up.bin", "get up.bin down.bin", "ls -1 /")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "down.bin").read_bytes() == data
    # It landed in the chroot's upload folder, and the chroot is all the user sees.
    assert proc.stdout.splitlines()[-1].strip() == "/upload"
    # Read as the user: container root holds no CAP_DAC_OVERRIDE under this profile, and the
    # folder is the user's, mode 0750.
    inside = store.hardbox("exec", "-u", "sftp", cid, "sha256sum", "/home/sftp/upload/up.bin")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_a_key_it_does_not_know_is_refused(server: tuple[str, int], tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)])
    proc = sftp(stranger, tmp_path, "ls")
    assert proc.returncode != 0 and "Permission denied (publickey)" in proc.stderr


def test_the_server_cannot_open_an_outbound_connection(store: RunStore, server: tuple[str, int],
                                                      tmp_path: Path) -> None:
    cid, pid = server
    with internet(tmp_path / "internet") as (server_pid, log):
        wire(server_pid, pid)
        for proto, port in (("tcp", 8080), ("tcp", 443), ("udp", 5353)):
            proc = store.hardbox("exec", cid, "/tools/probe", proto, SERVER, str(port))
            status, errno, _ = parse_probe(proc.stdout)
            # Rejected by the container's own rules (a reset or an ICMP error), not dropped
            # into a timeout, which would end in ETIMEDOUT/EAGAIN instead.
            assert status == "err" and errno in ("ECONNREFUSED", "EHOSTUNREACH", "EACCES", "EPERM"), errno
        assert seen(log) == set()  # nothing left the container


def test_scan_and_gate_report_what_the_talk_warns_about(store: RunStore, tmp_path: Path) -> None:
    proc = store.hardbox("scan", TAG, "--json", str(tmp_path / "scan.json"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    findings = json.loads((tmp_path / "scan.json").read_text())["findings"]
    ids = {f["id"] for f in findings}
    assert {"HB-CFG-001", "HB-CFG-002"} <= ids  # runs as root; SSH port 22 exposed
    port = next(f for f in findings if f["id"] == "HB-CFG-002")
    assert port["extra"]["port"] == "22/tcp"
    # No secrets: the host keys are made by each container, never shipped (the talk's rm -f).
    assert [f for f in findings if f["kind"] == "secret"] == []
    gate = tmp_path / "gate.json"
    policy = Path(__file__).parents[2] / "policies" / "gate" / "example-strict.yaml"
    proc = store.hardbox("gate", TAG, "--policy", str(policy), "--json", str(gate), timeout=300)
    assert proc.returncode == 1, proc.stderr
    rules = {r["rule"]: r for r in json.loads(gate.read_text())["rules"]}
    assert not rules["forbid.root-user"]["passed"]
    assert not rules["forbid.ssh-server"]["passed"]
    assert {f["id"] for f in rules["forbid.ssh-server"]["findings"]} >= {"HB-CFG-002"}
    assert rules["forbid.secrets"]["passed"] and rules["forbid.private-keys"]["passed"]
