"""Images for the scan and report tests, built from real parts by real tools.

``sample_image`` is a multi-layer umoci image with one of nearly everything a reviewer should
hear about: a real pip-written dist-info (matched against an advisory the test writes in OSV
format), a private key from ``openssl``, a credentials file deleted by a later layer, a
setuid binary, a world-writable directory, SSH exposed, root, a token in the build history
and a label an attacker chose. ``buildah_image`` builds the acceptance fixture of issue 5
from tests/fixtures/dockerfiles/leaky-secret.Dockerfile with buildah, on a busybox base
buildah itself committed from scratch.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from helpers import imagebuild

DOCKERFILES = Path(__file__).parents[1] / "fixtures" / "dockerfiles"  # tests/fixtures

# A key pair of AWS's format that no one issued. Not AWS's documented example pair
# (AKIAIOSFODNN7EXAMPLE): the secret rules allow-list that one, as gitleaks does.
AWS_KEY_ID = "AKIA" + "QX3VZ5T7WRN2PL4M"
AWS_SECRET = "q9Vd2Lx7Tm4Kp8Rz1Hs6Nc3Wf5Yb0Ga/Ej+Uo7Qi"
GITLAB_TOKEN = "glpat-Zx9Qw8Er7Ty6Ui5Op4As"
NPM_TOKEN = "npm_4f6b2c9e8d7a1b3c5e7f9a0b2c4d6e8f0a1b"
DB_PASSWORD = "Tr0ub4dor&3-horse"
# Every raw secret the sample image holds: no report may contain any of them.
SECRETS = (AWS_KEY_ID, AWS_SECRET, GITLAB_TOKEN, NPM_TOKEN, DB_PASSWORD)
HOSTILE_LABEL = '<script>alert("label")</script>'
HOSTILE_FILE = "<img src=x onerror=alert(1)>"

SITE_PACKAGES = "usr/lib/python3.11/site-packages"
JINJA2_VERSION = importlib.metadata.version("jinja2")


# Every file's mtime is pinned to this before a layer is packed: tar headers (and so layer
# sizes and digests) then do not depend on when the test ran.
PINNED_MTIME = 1_700_000_000


def _pin_times(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.utime(os.path.join(dirpath, name), (PINNED_MTIME, PINNED_MTIME), follow_symlinks=False)
    os.utime(root, (PINNED_MTIME, PINNED_MTIME))


def _pinned(change: Callable[[Path], object]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        change(root)
        _pin_times(root)

    return apply


def _copy_dist_info(dest: Path) -> None:
    """The dist-info pip wrote when it installed jinja2 on this machine, as it is."""
    dist = importlib.metadata.distribution("jinja2")
    source = Path(str(dist._path))  # type: ignore[attr-defined]
    target = dest / SITE_PACKAGES / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)


def _secrets_layer(root: Path) -> None:
    (root / "root/.aws").mkdir(parents=True, exist_ok=True)
    (root / "root/.aws/credentials").write_text(
        f"[default]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\n")
    (root / "app").mkdir(exist_ok=True)
    (root / "app/.npmrc").write_text(f"//registry.npmjs.org/:_authToken={NPM_TOKEN}\n")
    key = root / "etc/ssl/private/server.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    imagebuild.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key])
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    helper = root / "usr/local/bin/su-helper"
    shutil.copy2(root / "bin/busybox", helper)
    os.chmod(helper, 0o4755)
    (root / "data").mkdir(exist_ok=True)
    os.chmod(root / "data", 0o777)
    hostile = root / "etc" / HOSTILE_FILE
    hostile.write_text("x\n")
    os.chmod(hostile, 0o666)


def _remove_credentials(root: Path) -> None:
    (root / "root/.aws/credentials").unlink()


def sample_image(workdir: Path) -> imagebuild.OciImage:
    """The multi-layer sample (tag ``sample``); layer indexes are fixed: 0 busybox, 1 python
    package, 2 secrets and permissions, 3 the deletion."""
    rootfs = imagebuild.busybox_rootfs(workdir / "rootfs")
    _pin_times(rootfs)
    image = imagebuild.OciImage(workdir / "layout", "sample")
    image.add_rootfs(rootfs, "COPY busybox-static /")
    image.add_layer(_pinned(_copy_dist_info), "/bin/sh -c pip install jinja2")
    image.add_layer(_pinned(_secrets_layer),
                    f"|1 GITLAB_TOKEN={GITLAB_TOKEN} /bin/sh -c ./provision.sh")
    image.add_layer(_pinned(_remove_credentials), "/bin/sh -c rm /root/.aws/credentials")
    image.configure(
        "--config.cmd=/bin/sh",
        "--config.exposedports=22/tcp",
        "--config.exposedports=8080/tcp",
        f"--config.env=DB_PASSWORD={DB_PASSWORD}",
        "--config.env=PATH=/usr/local/bin:/bin",
        f"--config.label=org.example.note={HOSTILE_LABEL}",
        "--config.label=org.opencontainers.image.base.name=docker.io/library/busybox:latest",
        "--created=2024-01-02T03:04:05Z",
        "--history.created_by=/bin/sh -c #(nop) EXPOSE 22/tcp 8080/tcp",
    )
    return image


def write_advisory(directory: Path) -> Path:
    """An OSV record (ossf.github.io/osv-schema) for the jinja2 in ``sample_image``: affected
    from 0, fixed in a version above the installed one."""
    major, minor, patch = [*JINJA2_VERSION.split("."), "0", "0"][:3]
    fixed = f"{major}.{minor}.{int(patch) + 1}"
    record = {
        "schema_version": "1.6.0",
        "id": "GHSA-hbx0-test-0001",
        "modified": "2024-01-01T00:00:00Z",
        "published": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2099-0001"],
        "summary": "Template sandbox escape in Jinja2 <attr>",
        "details": "A crafted template escapes the sandbox.",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}],
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
        "references": [{"type": "ADVISORY", "url": "https://example.invalid/GHSA-hbx0-test-0001"}],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "GHSA-hbx0-test-0001.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def buildah_image(workdir: Path) -> Path:
    """Build leaky-secret.Dockerfile with buildah (vfs, chroot isolation) and export it as a
    docker-archive tagged ``leaky:1``; returns the archive."""
    storage = ["--storage-driver", "vfs", "--root", str(workdir / "storage"),
               "--runroot", str(workdir / "run")]
    rootfs = imagebuild.busybox_rootfs(workdir / "base-rootfs")
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot", "STORAGE_DRIVER": "vfs"}

    def buildah(*args: str) -> str:
        return imagebuild.run(["buildah", *storage, *args], env=env).stdout.strip()

    container = buildah("from", "scratch")
    buildah("copy", container, str(rootfs), "/")
    buildah("config", "--cmd", "/bin/sh", "--created-by", "COPY busybox-static rootfs /", container)
    buildah("commit", "-q", container, "localhost/hardbox-test-busybox:latest")
    buildah("rm", container)
    return buildah_build(workdir, "leaky-secret.Dockerfile", "leaky:1")


def buildah_build(workdir: Path, dockerfile: str, tag: str, *, docker_format: bool = False) -> Path:
    """Build one of tests/fixtures/dockerfiles on the base ``buildah_image`` committed (same
    storage under ``workdir``) and export it as a docker-archive tagged ``tag``."""
    storage = ["--storage-driver", "vfs", "--root", str(workdir / "storage"),
               "--runroot", str(workdir / "run")]
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot", "STORAGE_DRIVER": "vfs"}
    context = workdir / "context"
    context.mkdir(exist_ok=True)
    fmt = ["--format", "docker"] if docker_format else []
    imagebuild.run(["buildah", *storage, "bud", "-q", "--layers", "--isolation", "chroot",
                    "--pull-never", *fmt, "-f", str(DOCKERFILES / dockerfile),
                    "-t", f"localhost/{tag}", str(context)], env=env)
    archive = workdir / f"{tag.replace(':', '-')}.tar"
    imagebuild.run(["buildah", *storage, "push", "-q", f"localhost/{tag}",
                    f"docker-archive:{archive}:{tag}"], env=env)
    return archive


def remove_buildah_storage(workdir: Path) -> None:
    """vfs storage holds root-owned copies of every layer; ``buildah rm``/``rmi`` clean what
    buildah made before the temporary directory goes."""
    storage = ["--storage-driver", "vfs", "--root", str(workdir / "storage"),
               "--runroot", str(workdir / "run")]
    subprocess.run(["buildah", *storage, "rmi", "--all", "--force"], capture_output=True, check=False)


def import_advisories(paths: list[Path], db: Path) -> Path:
    """Load OSV files into a fresh index at ``db`` with hardbox's importer."""
    from hardbox.scan.vulndb.importer import import_paths
    from hardbox.scan.vulndb.index import VulnIndex

    with VulnIndex.open(db, create=True) as index:
        import_paths(paths, index)
    return db


def scan_ref(ref: str, root: Path, db: Path | None, **options: object) -> object:
    """``hardbox.scan.scanner.scan`` of an image by name, through a store at ``root``."""
    from hardbox.image.source import open_image
    from hardbox.image.store.store import Store
    from hardbox.scan.scanner import ScanOptions, scan

    with open_image(ref, Store.open(root)) as image:
        return scan(image, db, ScanOptions(name=ref, **options))  # type: ignore[arg-type]


_SAMPLE_SCANS: dict[str, tuple[object, Path]] = {}


def sample_scan(factory: object) -> tuple[object, Path]:
    """The sample image scanned against its advisory, built once per test session (several
    test modules read it): ``(ScanResult, work directory)``."""
    if "sample" not in _SAMPLE_SCANS:
        work = factory.mktemp("sample")  # type: ignore[attr-defined]
        image = sample_image(work / "image")
        db = import_advisories([write_advisory(work / "osv")], work / "osv.sqlite")
        _SAMPLE_SCANS["sample"] = (scan_ref(f"oci:{image.ref}", work / "store", db), work)
    return _SAMPLE_SCANS["sample"]
