"""Fixtures of the fuzz suite: one tiny real image (built by umoci, converted by skopeo) whose
documents the fuzzers mutate, a tiny root filesystem for `gate dir:`, a fresh store per test,
and the session's counts written to ``$HARDBOX_FUZZ_STATS`` (bench/RESULTS.md)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import fuzzkit
import pytest
from helpers.imagebuild import OciImage


def _tiny_rootfs(dest: Path) -> Path:
    """Three small files: enough for every cataloger and check to have something to read."""
    (dest / "etc").mkdir(parents=True)
    (dest / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="fuzz"\n')
    (dest / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n")
    (dest / "etc/group").write_text("root:x:0:\nuser:x:1000:\n")
    (dest / "app").mkdir()
    (dest / "app/hello.txt").write_text("hello\n")
    return dest


@pytest.fixture(scope="session")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> OciImage:
    """A one-layer OCI layout (tag ``latest``) made by umoci from ``_tiny_rootfs``."""
    for tool in ("umoci", "skopeo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    work = tmp_path_factory.mktemp("fuzz-image")
    image = OciImage(work / "layout", "latest")
    image.add_rootfs(_tiny_rootfs(work / "rootfs"), "COPY rootfs /")
    image.configure("--config.cmd=/bin/sh", "--config.user=1000")
    return image


@pytest.fixture(scope="session")
def tiny_archives(tiny_image: OciImage, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny image as skopeo writes it: docker-archive and oci-archive."""
    work = tmp_path_factory.mktemp("fuzz-archives")
    return {
        "docker-archive": tiny_image.docker_archive(work / "tiny.tar", "tiny:latest"),
        "oci-archive": tiny_image.oci_archive(work / "tiny-oci.tar"),
    }


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root filesystem to gate as ``dir:PATH`` (no import, so each example is cheap)."""
    return _tiny_rootfs(tmp_path_factory.mktemp("fuzz-dir") / "rootfs")


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def stored_tiny(tiny_image: OciImage, store_root: Path) -> str:
    """``tiny:latest`` imported into this test's store; returns the reference."""
    out = fuzzkit.run_cli(["image", "import", "--tag", "tiny:latest", str(tiny_image.layout)], root=store_root)
    assert out.code == 0, out.stderr
    return "tiny:latest"


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("HARDBOX_FUZZ_STATS")
    if target and fuzzkit.STATS:
        previous: dict[str, dict[str, int]] = {}
        if Path(target).exists():
            previous = json.loads(Path(target).read_text())
        for parser, counts in fuzzkit.STATS.items():
            merged = previous.setdefault(parser, {})
            for key, value in counts.items():
                merged[key] = merged.get(key, 0) + value
        Path(target).write_text(json.dumps(previous, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="session", autouse=True)
def _warm_imports() -> None:
    fuzzkit.warm_up()
