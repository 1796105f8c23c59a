"""Builds real test images from real parts, with the tools the field uses.

Root filesystems come from Debian's ``busybox-static`` and ``debootstrap``; images are made
from them by ``umoci`` (OCI layouts, one layer per ``add_layer`` call) and converted by
``skopeo`` (docker-archive, oci-archive). No hand-written manifest or config JSON: what a
test imports is what those tools write.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

# Where slow-to-build fixtures (the debootstrap rootfs) are kept between test runs.
CACHE = Path(os.environ.get("HARDBOX_TEST_CACHE", "/var/cache/hardbox-tests"))


def run(cmd: Sequence[str | os.PathLike[str]], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a tool; on failure raise with its stderr so the test log says what broke."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def busybox_rootfs(dest: Path, *, applets: Iterable[str] | None = None) -> Path:
    """A minimal root filesystem: static busybox, its applets as symlinks, passwd/group, /tmp."""
    for d in ("bin", "etc", "tmp", "root", "home/user", "proc", "dev", "sys"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    names = applets if applets is not None else run([BUSYBOX, "--list"]).stdout.split()
    for name in names:
        link = dest / "bin" / name
        if name != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (dest / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    (dest / "etc/group").write_text("root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")
    os.chown(dest / "home/user", 1000, 1000)
    return dest


class OciImage:
    """An OCI image layout being built with umoci, one ``add_layer`` per layer."""

    def __init__(self, layout: Path, tag: str = "latest") -> None:
        self.layout = layout
        self.tag = tag
        if not (layout / "index.json").exists():
            run(["umoci", "init", "--layout", layout])
        run(["umoci", "new", "--image", f"{layout}:{tag}"])

    @property
    def ref(self) -> str:
        return f"{self.layout}:{self.tag}"

    def add_layer(self, change: Callable[[Path], object], created_by: str = "test layer") -> None:
        """Unpack the image, let ``change(rootfs)`` edit it, and repack the diff as a new layer."""
        with tempfile.TemporaryDirectory(dir=self.layout.parent) as tmp:
            bundle = Path(tmp) / "bundle"
            run(["umoci", "unpack", "--image", self.ref, bundle])
            change(bundle / "rootfs")
            run(["umoci", "repack", "--image", self.ref, "--history.created_by", created_by, bundle])

    def add_rootfs(self, rootfs: Path, created_by: str = "COPY rootfs /") -> None:
        def copy(dest: Path) -> None:
            run(["cp", "-a", f"{rootfs}/.", str(dest)])

        self.add_layer(copy, created_by)

    def configure(self, *args: str) -> None:
        """``umoci config`` flags, e.g. ``--config.cmd=/bin/sh``, ``--config.user=1000``."""
        run(["umoci", "config", "--image", self.ref, *args])

    def docker_archive(self, out: Path, name: str = "bbtest:latest") -> Path:
        run(["skopeo", "copy", "-q", f"oci:{self.ref}", f"docker-archive:{out}:{name}"])
        return out

    def oci_archive(self, out: Path) -> Path:
        run(["skopeo", "copy", "-q", f"oci:{self.ref}", f"oci-archive:{out}:{self.tag}"])
        return out


def busybox_image(workdir: Path, tag: str = "latest", *, user: str = "1000") -> OciImage:
    """A one-layer busybox image with ``/bin/sh`` as its command."""
    rootfs = busybox_rootfs(workdir / f"rootfs-{tag}")
    image = OciImage(workdir / "layout", tag)
    image.add_rootfs(rootfs, "COPY busybox-static /")
    image.configure("--config.cmd=/bin/sh", f"--config.user={user}", "--config.workingdir=/")
    return image


def debian_minbase_rootfs() -> Path:
    """A real Debian 12 minbase root filesystem from debootstrap, cached in ``CACHE``.

    Built once (about a minute) and reused; a half-built one is never kept.
    """
    target = CACHE / "debian-minbase"
    marker = CACHE / "debian-minbase.complete"
    if marker.exists() and target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / f"debian-minbase.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    mirror = os.environ.get("HARDBOX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    run(["debootstrap", "--variant=minbase", "bookworm", partial, mirror], timeout=1200)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    marker.write_text("")
    return target
