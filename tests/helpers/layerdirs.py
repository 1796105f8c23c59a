"""Helpers for the scan tests: images made of layer directories in overlayfs lower-dir
format (docs/architecture.md), the input the walk reads.

Layers come from two real sources: directories a test fills (whiteouts made with mknod(2)
and opaque directories with setxattr(2), as the store's layer apply writes them), and the
upper directory of a real overlayfs mount, where the kernel itself wrote the whiteouts.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(frozen=True)
class DirLayer:
    path: Path
    diff_id: str
    index: int
    created_by: str
    digest: str = ""
    size: int = 0


@dataclass(frozen=True)
class DirImage:
    layers: tuple[DirLayer, ...]
    id: str = ""
    tags: tuple[str, ...] = ()
    manifest_digest: str = ""
    config: object = field(default=None, compare=False)


def image_of(*dirs: Path, created_by: tuple[str, ...] = ()) -> DirImage:
    """An image whose layers, oldest first, are ``dirs``; diff_ids are stand-ins derived from
    the directory names (the walk does not read them, it only passes them on)."""
    layers = tuple(
        DirLayer(
            path=d,
            diff_id="sha256:" + hashlib.sha256(str(d).encode()).hexdigest(),
            index=i,
            created_by=created_by[i] if i < len(created_by) else f"layer {i}",
        )
        for i, d in enumerate(dirs)
    )
    return DirImage(layers=layers)


def write(root: Path, rel: str, text: str | bytes = "", mode: int = 0o644) -> Path:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    os.chmod(path, mode)
    return path


def layer_of(root: Path, files: dict[str, str | bytes]) -> Path:
    """A layer directory ``root`` holding ``files`` (path in the image: content)."""
    for rel, content in files.items():
        write(root, rel, content)
    return root


def whiteout(root: Path, rel: str) -> None:
    """An overlayfs whiteout: a character device 0/0 with the deleted name."""
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def opaque(root: Path, rel: str) -> Path:
    """An opaque directory, marked with both xattrs overlayfs reads."""
    path = root / rel.lstrip("/")
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")
    os.setxattr(path, "user.overlay.opaque", b"y")
    return path


def in_overlay(
    lowers: list[Path], upper: Path, work: Path, script: str
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh, with the merged mount in $M) in a private mount namespace with a
    real overlayfs: ``lowers`` newest first, changes written to ``upper`` by the kernel."""
    upper.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    merged = work.parent / (work.name + "-merged")
    merged.mkdir(exist_ok=True)
    options = f"lowerdir={':'.join(map(str, lowers))},upperdir={upper},workdir={work}"
    inner = f"mount -t overlay overlay -o {shlex.quote(options)} {shlex.quote(str(merged))} && M={shlex.quote(str(merged))} && {script}"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", inner],
        capture_output=True,
        text=True,
    )


def overlay_listing(lowers: list[Path], work: Path) -> set[str] | None:
    """Every path the kernel's overlayfs shows when ``lowers`` (newest first) are mounted
    read-only, or None when overlayfs cannot be mounted here."""
    merged = work / "merged"
    merged.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={':'.join(map(str, lowers))}"
    inner = f"mount -t overlay overlay -o {shlex.quote(options)} {shlex.quote(str(merged))} && cd {shlex.quote(str(merged))} && find . -mindepth 1"
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", inner],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    return {"/" + line[2:] for line in proc.stdout.splitlines()}


CACHE = Path(os.environ.get("HARDBOX_TEST_CACHE", "/var/cache/hardbox-tests")) / "wheels"
# Small pure-Python distributions with declared licenses and, for one, a name to normalise.
REQUIREMENTS = ("six==1.16.0", "idna==3.7", "typing_extensions==4.12.2")


def wheels() -> Path:
    """The wheels, downloaded from PyPI once and kept in the test cache."""
    marker = CACHE / ".complete"
    if not marker.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(CACHE),
                *REQUIREMENTS,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot download wheels from PyPI: {proc.stderr.strip()[-200:]}")
        marker.write_text("")
    return CACHE


def pip_install_wheels(target: Path, *requirements: str) -> None:
    """pip installs ``requirements`` (default: all of REQUIREMENTS) from the cached wheels into
    ``target``, offline and without dependencies: a real site-packages for the catalogers."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels()),
            "--no-deps",
            "--target",
            str(target),
            *(requirements or REQUIREMENTS),
        ],
        check=True,
        capture_output=True,
    )


def dpkg_packages(admindir: Path) -> set[tuple[str, str]]:
    """(name, version) of every package dpkg itself lists in ``admindir``: the cataloger's
    ground truth."""
    out = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", "-W", "-f", "${Package} ${Version}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {(name, version) for name, version in (line.split(" ", 1) for line in out.splitlines())}


def walk_check(check_type, image: DirImage, options=None):  # type: ignore[no-untyped-def]
    """Runs one image check (``check_type(context, options)``, e.g. FileCheck) over ``image``
    through the real walk, with a config whose diff_ids are the image's, and returns it."""
    from hardbox.image.formats.config import ImageConfig
    from hardbox.scan.checks.interface import CheckOptions, ImageContext
    from hardbox.scan.walk import layer_ref, walk

    config = ImageConfig.from_obj(
        {
            "os": "linux",
            "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in image.layers]},
        },
        "test",
    )
    context = ImageContext("test", config, tuple(layer_ref(la) for la in image.layers))
    check = check_type(context, options if options is not None else CheckOptions())
    walk(image, [check])
    return check
