"""Round trips: a tree, tarred by a real tool, applied, is the same tree again.

Random trees (seeded, so a failure reproduces) hold every kind of entry a layer carries:
nested and read-only directories, empty, small and multi-megabyte files, symlinks (dangling
and absolute ones too), hardlinks, fifos, setuid/setgid/sticky modes, several owners,
nanosecond mtimes and user xattrs. They are tarred by Python's ``tarfile`` (PAX, what
Go's archive/tar and most image builders emit) and by GNU tar ``--format=posix``; a real
umoci image layer is compared against ``umoci unpack``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers.cli import need_root, need_tool

from hardbox.image.layers.compression import Compression
from hardbox.image.layers.unpack import apply_layer

pytestmark = pytest.mark.root

MODES_FILE = (0o644, 0o600, 0o755, 0o4755, 0o2755, 0o6711, 0o000, 0o444)
MODES_DIR = (0o755, 0o700, 0o1777, 0o2775, 0o555)
OWNERS = ((0, 0), (1000, 1000), (65534, 65534), (33, 4))


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """Type, mode, owner, size, content digest or link target, mtime, device, user xattrs
    and hardlink group of every entry below ``root`` (the root itself included)."""
    state: dict[str, tuple[object, ...]] = {}
    first_path: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [".", *sorted(filenames)] + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            if name == "." and Path(dirpath) != root:
                continue
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                body: object = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(path)
            else:
                body = st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else None
            group = first_path.setdefault(st.st_ino, rel) if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode) else None
            mtime = None if stat.S_ISLNK(st.st_mode) else st.st_mtime_ns
            xattrs = () if stat.S_ISLNK(st.st_mode) else tuple(sorted((n, os.getxattr(path, n)) for n in os.listxattr(path) if n.startswith("user.")))
            state[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body, mtime, group, xattrs)
        for d in dirnames:
            path = Path(dirpath, d)
            if not path.is_symlink():
                st = os.lstat(path)
                xattrs = tuple(sorted((n, os.getxattr(path, n)) for n in os.listxattr(path) if n.startswith("user.")))
                state[str(path.relative_to(root))] = (stat.S_IFDIR, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None, st.st_mtime_ns, None, xattrs)
    return state


def random_tree(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    root.mkdir()
    dirs = [root]
    files: list[Path] = []
    dir_meta: list[tuple[Path, int, tuple[int, int], int]] = []

    def stamp() -> int:
        return rng.randrange(10**9, 2 * 10**9) * 10**9 + rng.randrange(10**9)

    for i in range(70):
        parent = rng.choice(dirs)
        path = parent / f"e{i}-{rng.choice(['a', 'bin', 'ñ', 'x y'])}"
        kind = rng.choices(["dir", "file", "symlink", "hardlink", "fifo"], weights=[3, 8, 2, 2, 1])[0]
        owner = rng.choice(OWNERS)
        if kind == "dir":
            path.mkdir()
            dirs.append(path)
            dir_meta.append((path, rng.choice(MODES_DIR), owner, stamp()))
            continue
        if kind == "file":
            size = rng.choice([0, 1, 511, 512, 4096, 70_000, 1_200_000, 2_500_000])
            path.write_bytes(rng.randbytes(size))
            files.append(path)
        elif kind == "symlink":
            os.symlink(rng.choice(["../x", "/etc/passwd", "dangling", str(rng.choice(dirs).relative_to(root))]), path)
        elif kind == "hardlink" and files:
            os.link(rng.choice(files), path)
            continue  # shares the target's metadata
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            continue
        os.chown(path, *owner, follow_symlinks=False)
        if not path.is_symlink():
            if kind == "file" and rng.random() < 0.3:  # the kernel allows user.* on files and dirs only
                os.setxattr(path, "user.note", rng.randbytes(rng.randrange(1, 40)))
            os.chmod(path, rng.choice(MODES_FILE))
        os.utime(path, ns=(stamp(), stamp()), follow_symlinks=False)
    for path, mode, owner, mtime in sorted(dir_meta, key=lambda m: len(m[0].parts), reverse=True):
        os.chown(path, *owner)
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))
    os.utime(root, ns=(stamp(), stamp()))


def tar_with_tarfile(root: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in [".", *sorted(dirnames), *sorted(filenames)] if Path(dirpath) == root else [*sorted(dirnames), *sorted(filenames)]:
                if name == "." and Path(dirpath) != root:
                    continue
                path = Path(dirpath, name)
                info = archive.gettarinfo(str(path), "./" + str(path.relative_to(root)))
                st = os.lstat(path)
                pax = {"mtime": f"{st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}"}
                if not path.is_symlink():
                    for xattr in os.listxattr(path):
                        pax[f"SCHILY.xattr.{xattr}"] = os.getxattr(path, xattr).decode("utf-8", "surrogateescape")
                info.pax_headers = pax
                if info.isreg():
                    with path.open("rb") as data:
                        archive.addfile(info, data)
                else:
                    archive.addfile(info)
    return buf.getvalue()


def tar_with_gnu_tar(root: Path) -> bytes:
    need_tool("tar")
    cmd = ["tar", "--format=posix", "--xattrs", "--xattrs-include=user.*", "--numeric-owner", "-C", str(root), "-cf", "-", "."]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tool", ["tarfile", "gnu-tar"])
def test_random_tree_round_trips(tool: str, seed: int, tmp_path: Path) -> None:
    need_root()
    src = tmp_path / "src"
    random_tree(src, seed)
    blob = tar_with_tarfile(src) if tool == "tarfile" else tar_with_gnu_tar(src)
    dest = tmp_path / "dest"
    dest.mkdir()
    result = apply_layer(io.BytesIO(blob), dest, expected_diff_id=None, source=f"{tool}-{seed}")
    assert result.skipped == () and result.warnings == ()
    assert describe(dest) == describe(src)


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":")
    return layout / "blobs" / algorithm / hexdigest


def apply_first_layer(layout: Path, dest: Path, **options: bool):  # type: ignore[no-untyped-def]
    """Applies the first layer of the layout's first image into ``dest`` (made here), checked
    against its config's diff_id; returns the layer's manifest entry and the result."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob_path(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(blob_path(layout, manifest["config"]["digest"]).read_text())
    layer = manifest["layers"][0]
    dest.mkdir()
    with blob_path(layout, layer["digest"]).open("rb") as blob:
        result = apply_layer(
            blob, dest, expected_diff_id=config["rootfs"]["diff_ids"][0], source=layer["digest"], **options
        )
    return layer, result


@pytest.mark.slow
def test_real_umoci_layer_matches_umoci_unpack(busybox_layout: object, tmp_path: Path) -> None:
    """The busybox image's layer (gzip, written by umoci), applied by us with its diff_id
    checked, gives the tree ``umoci unpack`` gives."""
    need_tool("umoci")
    ours = tmp_path / "ours"
    layer, result = apply_first_layer(busybox_layout.layout, ours, hash_blob=True)  # type: ignore[attr-defined]
    assert result.compression is Compression.GZIP and result.skipped == ()
    assert result.digest == layer["digest"] and result.compressed_size == layer["size"]
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", busybox_layout.ref, str(bundle)], check=True, capture_output=True)  # type: ignore[attr-defined]
    assert describe(ours) == describe(bundle / "rootfs")


@pytest.mark.slow
def test_debian_minbase_layer_matches_umoci_unpack(debian_layout: object, tmp_path: Path) -> None:
    """A real distribution layer (debootstrap minbase, ~200 MB, ~7,000 entries, written by
    umoci) unpacks to exactly what ``umoci unpack`` produces."""
    ours = tmp_path / "ours"
    _, result = apply_first_layer(debian_layout.layout, ours)  # type: ignore[attr-defined]
    assert result.skipped == () and result.warnings == ()
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", debian_layout.ref, str(bundle)], check=True, capture_output=True)  # type: ignore[attr-defined]
    theirs = describe(bundle / "rootfs")
    # umoci creates the image's /dev nodes; we record them instead (issue 18): the same
    # nodes, numbers and modes, and no node on disk.
    nodes = {path: entry for path, entry in theirs.items() if entry[0] in (stat.S_IFCHR, stat.S_IFBLK)}
    assert nodes, "debootstrap's minbase ships /dev nodes"
    assert {d.name: (d.kind, os.makedev(d.major, d.minor), d.mode) for d in result.devices} == {
        path: ("c" if entry[0] == stat.S_IFCHR else "b", entry[4], entry[1]) for path, entry in nodes.items()
    }
    mine = describe(ours)
    # each recorded node leaves an overlay whiteout (0/0) holding its place
    assert all(mine.pop(path)[:5:4] == (stat.S_IFCHR, 0) for path in nodes)
    assert mine == {path: entry for path, entry in theirs.items() if path not in nodes}
