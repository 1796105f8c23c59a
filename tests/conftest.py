"""Shared fixtures: a temporary store root per test, real images built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import imagebuild


def need_tool(*names: str) -> None:
    """Skip, saying why, when a peer tool is not installed (scripts/install-deps.sh installs
    all of them, so CI skips nothing)."""
    for name in names:
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (scripts/install-deps.sh installs it)")


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, mounts and cgroups are set up for real")


@pytest.fixture
def hardbox_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store for one test; every command honours $HARDBOX_ROOT."""
    root = tmp_path / "store"
    monkeypatch.setenv("HARDBOX_ROOT", str(root))
    return root


@pytest.fixture(scope="session")
def image_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="session")
def busybox_layout(image_workdir: Path) -> imagebuild.OciImage:
    """One-layer busybox OCI layout (tag ``latest``), cmd /bin/sh, user 1000."""
    need_tool("umoci")
    return imagebuild.busybox_image(image_workdir / "busybox")


@pytest.fixture(scope="session")
def busybox_archive(busybox_layout: imagebuild.OciImage, image_workdir: Path) -> Path:
    """The busybox image as a docker-archive tar written by skopeo, tagged bbtest:latest."""
    need_tool("skopeo")
    return busybox_layout.docker_archive(image_workdir / "bbtest.tar", "bbtest:latest")


@pytest.fixture(scope="session")
def debian_rootfs() -> Path:
    """A real Debian 12 minbase rootfs (debootstrap, cached between runs)."""
    need_tool("debootstrap")
    need_root()
    return imagebuild.debian_minbase_rootfs()


@pytest.fixture(scope="session")
def debian_layout(debian_rootfs: Path, image_workdir: Path) -> imagebuild.OciImage:
    """The Debian minbase rootfs as a one-layer OCI image (umoci)."""
    need_tool("umoci")
    image = imagebuild.OciImage(image_workdir / "debian" / "layout", "bookworm")
    image.add_rootfs(debian_rootfs, "debootstrap --variant=minbase bookworm")
    image.configure("--config.cmd=/bin/bash")
    return image


def hardbox(*args: str, check: bool = False, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "hardbox", *args], capture_output=True, text=True, **kw  # type: ignore[call-overload]
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hardbox {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture
def cli() -> Iterator[object]:
    yield hardbox
