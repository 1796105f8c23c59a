"""Shared fixtures: a temporary store root per test, real images built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_root, need_tool

# No test reaches a registry it did not start: a bare image name the store lacks would be
# pulled on demand (from Docker Hub, issue 11), so every command's --pull defaults to never
# here. The tests of on-demand pulls set HARDBOX_PULL back or pass --pull themselves.
os.environ["HARDBOX_PULL"] = "never"


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


@pytest.fixture
def cli() -> Iterator[object]:
    yield hardbox
