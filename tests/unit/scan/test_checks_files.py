"""File checks over real layer directories on disk, read by the real walk.

Each test lays out layers as the store unpacks them (overlay lower dirs: a whiteout is a
0/0 character device) and runs ``FileCheck`` through ``walk``, exactly as a scan does.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_root, need_tool
from helpers.layerdirs import image_of, walk_check

from hardbox.findings import Severity
from hardbox.scan.checks.files import WASTE_THRESHOLD, FileCheck


def make_layers(tmp_path: Path, count: int) -> list[Path]:
    dirs = []
    for i in range(count):
        d = tmp_path / f"layer{i}"
        d.mkdir()
        dirs.append(d)
    return dirs


def run_check(dirs: list[Path]) -> list:
    return walk_check(FileCheck, image_of(*dirs)).findings()


def whiteout(path: Path) -> None:
    """An overlayfs whiteout: what the store writes for a tar ``.wh.`` entry."""
    need_root()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(0, 0))


def by_id(findings: list, check_id: str) -> list:
    return [f for f in findings if f.id == check_id]


def test_setuid_and_setgid_binaries(tmp_path: Path) -> None:
    (layer,) = make_layers(tmp_path, 1)
    (layer / "usr/bin").mkdir(parents=True)
    for name, mode in (("su", 0o4755), ("wall", 0o2755), ("ls", 0o755)):
        shutil.copy2("/bin/busybox", layer / "usr/bin" / name)
        os.chmod(layer / "usr/bin" / name, mode)
    found = {f.path: f for f in by_id(run_check([layer]), "HB-FILE-001")}
    assert set(found) == {"/usr/bin/su", "/usr/bin/wall"}
    assert found["/usr/bin/su"].severity is Severity.MEDIUM
    assert found["/usr/bin/wall"].severity is Severity.LOW
    assert found["/usr/bin/su"].layer is not None and found["/usr/bin/su"].layer.index == 0
    assert "setuid" in found["/usr/bin/su"].title.lower()


def test_world_writable_files_and_directories_without_sticky_bit(tmp_path: Path) -> None:
    (layer,) = make_layers(tmp_path, 1)
    for d, mode in (("tmp", 0o1777), ("shared", 0o777), ("private", 0o755)):
        (layer / d).mkdir()
        os.chmod(layer / d, mode)
    (layer / "private/open.conf").write_text("x")
    os.chmod(layer / "private/open.conf", 0o666)
    (layer / "private/link").symlink_to("open.conf")  # links are always 0777: not a finding
    paths = {f.path for f in by_id(run_check([layer]), "HB-FILE-002")}
    assert paths == {"/shared", "/private/open.conf"}


def test_ssh_host_keys_and_authorized_keys(tmp_path: Path) -> None:
    (layer,) = make_layers(tmp_path, 1)
    (layer / "etc/ssh").mkdir(parents=True)
    (layer / "etc/ssh/ssh_host_ed25519_key").write_text("key")
    (layer / "etc/ssh/ssh_host_ed25519_key.pub").write_text("public, fine")
    (layer / "root/.ssh").mkdir(parents=True)
    (layer / "root/.ssh/authorized_keys").write_text("ssh-ed25519 AAAA test")
    paths = {f.path for f in by_id(run_check([layer]), "HB-FILE-003")}
    assert paths == {"/etc/ssh/ssh_host_ed25519_key", "/root/.ssh/authorized_keys"}


# (files a layer holds, those HB-FILE-006 must name): credential files by name, beside
# public keys and examples with like names that are no credential.
CREDENTIAL_FILES = {
    "common": (("root/.ssh/id_ed25519", "root/.aws/credentials", "home/u/.netrc",
                "home/u/.pgpass", "srv/tls/bundle.p12", "root/.ssh/id_ed25519.pub",
                "usr/share/doc/netrc-example"),
               {"/root/.ssh/id_ed25519", "/root/.aws/credentials", "/home/u/.netrc",
                "/home/u/.pgpass", "/srv/tls/bundle.p12"}),
    "more": (("srv/deploy/id_rsa", "root/.my.cnf", "home/u/putty.ppk", "home/u/vault.kdbx",
              "opt/app/keystore.jks", "srv/deploy/id_rsa.pub", "etc/mysql/my.cnf"),
             {"/srv/deploy/id_rsa", "/root/.my.cnf", "/home/u/putty.ppk",
              "/home/u/vault.kdbx", "/opt/app/keystore.jks"}),
}


@pytest.mark.parametrize("case", sorted(CREDENTIAL_FILES))
def test_credential_files_by_name(case: str, tmp_path: Path) -> None:
    present, expected = CREDENTIAL_FILES[case]
    (layer,) = make_layers(tmp_path, 1)
    for rel in present:
        (layer / rel).parent.mkdir(parents=True, exist_ok=True)
        (layer / rel).write_text("x")
    assert {f.path for f in by_id(run_check([layer]), "HB-FILE-006")} == expected


def test_key_and_pem_files_are_judged_by_their_first_bytes(tmp_path: Path) -> None:
    """.pem and .key name private keys, but also certificates, CA bundles and public keys:
    openssl and gpg write each kind here, and only the private ones are credential files."""
    need_tool("openssl", "gpg")
    (layer,) = make_layers(tmp_path, 1)
    tls = layer / "etc/ssl"
    (tls / "private").mkdir(parents=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", tls / "private/a.key"], check=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-outform", "DER",
                    "-out", tls / "private/b.key"], check=True)
    subprocess.run(["openssl", "pkey", "-in", tls / "private/a.key", "-out", tls / "private/c.pem"], check=True)
    subprocess.run(["openssl", "pkey", "-in", tls / "private/a.key", "-pubout", "-out", tls / "pub.key"], check=True)
    subprocess.run(["openssl", "req", "-x509", "-key", tls / "private/a.key", "-subj", "/CN=t", "-days", "1",
                    "-out", tls / "cert.pem"], check=True, capture_output=True)
    (layer / "srv").mkdir()
    (layer / "srv/empty.key").write_bytes(b"")
    # An apt keyring saved as .key, binary and armoured: an OpenPGP public key.
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet"]
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", "apt <apt@example.org>", "ed25519"],
                   check=True, capture_output=True)
    keyrings = layer / "etc/apt/keyrings"
    keyrings.mkdir(parents=True)
    (keyrings / "vendor.key").write_bytes(subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout)
    (keyrings / "vendor-armored.key").write_bytes(
        subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True).stdout)
    paths = {f.path for f in by_id(run_check([layer]), "HB-FILE-006")}
    assert paths == {"/etc/ssl/private/a.key", "/etc/ssl/private/b.key", "/etc/ssl/private/c.pem"}


def test_deleted_credential_still_ships_in_the_layer_that_wrote_it(tmp_path: Path) -> None:
    base, secret, cleanup = make_layers(tmp_path, 3)
    (base / "etc").mkdir()
    (secret / "root/.aws").mkdir(parents=True)
    (secret / "root/.aws/credentials").write_text("[default]\n")
    whiteout(cleanup / "root/.aws/credentials")
    findings = run_check([base, secret, cleanup])
    (deleted,) = by_id(findings, "HB-FILE-007")
    assert deleted.path == "/root/.aws/credentials"
    assert deleted.layer is not None and deleted.layer.index == 1
    assert deleted.extra["hidden_by_index"] == 2 and deleted.extra["deleted"] is True
    assert deleted.severity is Severity.HIGH
    # Not also reported as a present credential file: the merged view no longer has it.
    assert not by_id(findings, "HB-FILE-006")


def test_wasted_space_counts_bytes_later_layers_hide(tmp_path: Path) -> None:
    first, second = make_layers(tmp_path, 2)
    (first / "var/cache").mkdir(parents=True)
    big = WASTE_THRESHOLD + 4096
    (first / "var/cache/blob").write_bytes(b"\1" * big)
    (first / "small").write_bytes(b"\1" * 10)
    (second / "var/cache").mkdir(parents=True)
    (second / "var/cache/blob").write_bytes(b"\2")  # replaced, not deleted
    (second / "small").write_bytes(b"\2")
    (waste,) = by_id(run_check([first, second]), "HB-FILE-008")
    assert waste.layer is not None and waste.layer.index == 0
    assert waste.extra == {"bytes": big + 10, "files": 2}


def test_small_shadowed_bytes_are_not_reported(tmp_path: Path) -> None:
    first, second = make_layers(tmp_path, 2)
    (first / "etc").mkdir()
    (first / "etc/motd").write_text("old")
    (second / "etc").mkdir()
    (second / "etc/motd").write_text("new")
    assert not by_id(run_check([first, second]), "HB-FILE-008")


@pytest.mark.parametrize(("rel", "check_id"), [
    ("bin/sh", "HB-FILE-005"), ("usr/bin/bash", "HB-FILE-005"),
    ("usr/bin/apt-get", "HB-FILE-004"), ("sbin/apk", "HB-FILE-004"),
])
def test_shells_and_package_managers_are_info(tmp_path: Path, rel: str, check_id: str) -> None:
    (layer,) = make_layers(tmp_path, 1)
    (layer / rel).parent.mkdir(parents=True)
    (layer / rel).symlink_to("/bin/busybox")
    (found,) = by_id(run_check([layer]), check_id)
    assert found.path == "/" + rel and found.severity is Severity.INFO


def test_a_shell_outside_the_bin_directories_is_not_reported(tmp_path: Path) -> None:
    (layer,) = make_layers(tmp_path, 1)
    (layer / "opt/tools").mkdir(parents=True)
    (layer / "opt/tools/sh").write_text("#!/bin/false\n")
    assert not by_id(run_check([layer]), "HB-FILE-005")
