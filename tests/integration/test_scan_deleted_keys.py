"""Keys and secrets deleted by a later layer still ship, and ``hardbox scan`` says so (issue
15, "a deleted key file is not flagged").

The image is built by umoci from busybox: one layer writes keys, a certificate, a token in an
env file and a harmless note; the next layer deletes them all (umoci writes the whiteouts, as
``RUN rm`` does in a Dockerfile build). The keys are made by ``openssl`` and
``secrets.token_hex``, the certificate by ``openssl req``: real bytes, not strings shaped
for the check.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_tool

pytestmark = pytest.mark.slow

GITLAB_TOKEN = "glpat-" + "Vb7Nm3Qw9Er5Ty1Ui8Op"
DEPLOY_KEY = secrets.token_hex(32)  # a raw symmetric key: no secret rule knows its format
DELETED = ("/srv/app/deploy.key", "/srv/app/tls.pem", "/srv/app/ca.pem", "/tmp/bootstrap.env",
           "/srv/app/notes.txt")


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _write(root: Path) -> None:
    app = root / "srv/app"
    app.mkdir(parents=True)
    (app / "deploy.key").write_text(DEPLOY_KEY + "\n")
    _openssl("genpkey", "-algorithm", "ed25519", "-out", app / "tls.pem")
    _openssl("req", "-x509", "-key", app / "tls.pem", "-subj", "/CN=hardbox-test", "-days", "1",
             "-out", app / "ca.pem")
    (app / "notes.txt").write_text("deploy with the key in this directory\n")
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp/bootstrap.env").write_text(f"GITLAB_TOKEN={GITLAB_TOKEN}\n")
    # Kept: a TLS server key and the certificate beside it.
    (root / "etc/ssl/private").mkdir(parents=True)
    (root / "etc/ssl/certs").mkdir(parents=True)
    _openssl("genpkey", "-algorithm", "ed25519", "-out", root / "etc/ssl/private/server.key")
    (root / "etc/ssl/certs/server.pem").write_bytes((app / "ca.pem").read_bytes())


def _delete(root: Path) -> None:
    for path in DELETED:
        (root / path.lstrip("/")).unlink()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> imagebuild.OciImage:
    need_tool("umoci", "openssl")
    image = imagebuild.busybox_image(tmp_path_factory.mktemp("deleted-keys"), tag="keys")
    image.add_layer(_write, "/bin/sh -c ./provision.sh")
    image.add_layer(_delete, "/bin/sh -c rm -f /srv/app/* /tmp/bootstrap.env")
    return image


def scan(image: imagebuild.OciImage, store: Path, *flags: str) -> tuple[str, dict[str, Any]]:
    proc = hardbox("scan", f"oci:{image.ref}", "--json", "-", "-q", *flags,
                   env={"HARDBOX_ROOT": str(store), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(proc.stdout)


def by_path(report: dict[str, Any], check_id: str) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in report["findings"] if f["id"] == check_id}


def test_deleted_keys_and_secrets_still_ship_and_are_flagged(image: imagebuild.OciImage, tmp_path: Path) -> None:
    text, report = scan(image, tmp_path / "store")
    deleted = by_path(report, "HB-FILE-007")
    # The key by its name, the PEM by its armour, the env file by the token it held; not the
    # certificate (public) and not the note.
    assert set(deleted) == {"/srv/app/deploy.key", "/srv/app/tls.pem", "/tmp/bootstrap.env"}
    for finding in deleted.values():
        assert finding["layer_index"] == 1 and finding["extra"]["hidden_by_index"] == 2
        assert finding["extra"]["deleted"] is True and "still ships it" in finding["detail"]
    assert "GitLab personal access token (glpa… (26 chars), line 1)" in deleted["/tmp/bootstrap.env"]["detail"]
    assert "is a private key" in deleted["/srv/app/tls.pem"]["detail"]
    # Present: the server key is a credential file; its certificate is not.
    assert set(by_path(report, "HB-FILE-006")) == {"/etc/ssl/private/server.key"}
    # No value is ever printed.
    assert GITLAB_TOKEN not in text and DEPLOY_KEY not in text


def test_without_secret_scanning_key_files_are_still_judged(image: imagebuild.OciImage, tmp_path: Path) -> None:
    """--skip-secrets reads no file contents for secrets: the env file's token goes unseen,
    but a .key/.pem file is still judged by its name and its first bytes."""
    _, report = scan(image, tmp_path / "store", "--skip-secrets")
    assert set(by_path(report, "HB-FILE-007")) == {"/srv/app/deploy.key", "/srv/app/tls.pem"}
