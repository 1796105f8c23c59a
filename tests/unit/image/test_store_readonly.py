"""A populated store on a real read-only mount is readable by every command that only reads.

The store is imported normally, then bind-mounted read-only (mount --bind, then remount
ro,bind: the kernel's two-step for a read-only bind mount) and $HARDBOX_ROOT points at the
mount. ls, inspect, scan, sbom, gate, fsck and export to a writable place work; a writer is
refused in one line naming the read-only store, and nothing under the mount changed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hardbox.image.store.importer import import_path
from hardbox.image.store.store import Store

Cli = Callable[..., Any]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = (Path(dirpath) / name).lstat()
            out[str((Path(dirpath) / name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def read_only_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busybox_layout: Any,
                    busybox_archive: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root: a read-only bind mount")
    source = tmp_path / "store"
    store = Store.open(source)
    import_path(store, busybox_layout.layout)
    import_path(store, busybox_archive)
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(mount)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], check=True)
        monkeypatch.setenv("HARDBOX_ROOT", str(mount))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_every_reader_works_on_a_read_only_store(read_only_store: Path, cli: Cli,
                                                 tmp_path: Path) -> None:
    before = _tree(read_only_store)
    with pytest.raises(OSError):
        (read_only_store / "probe").write_text("x")  # the mount really is read-only

    ls = cli("image", "ls", "--json", check=True)
    assert sorted(t for im in json.loads(ls.stdout) for t in im["tags"]) == [
        "docker.io/library/bbtest:latest", "docker.io/library/layout:latest"]
    inspect = cli("image", "inspect", "--json", "bbtest", check=True)
    assert json.loads(inspect.stdout)["layers"]
    scan = cli("scan", "bbtest", "--json", str(tmp_path / "scan.json"))
    assert scan.returncode == 0, scan.stderr
    assert json.loads((tmp_path / "scan.json").read_text())
    sbom = cli("sbom", "bbtest", "-o", str(tmp_path / "sbom.json"), check=True)
    assert sbom.returncode == 0
    assert json.loads((tmp_path / "sbom.json").read_text())["bomFormat"] == "CycloneDX"
    gate = cli("gate", "bbtest")
    assert gate.returncode in (0, 1), gate.stderr  # a verdict, not "cannot create the store"
    assert cli("image", "fsck", check=True).returncode == 0
    out = tmp_path / "exported.tar"
    cli("image", "export", "bbtest", "-o", str(out), check=True)
    assert out.stat().st_size > 0

    for writer in (("image", "tag", "bbtest", "other:1"), ("image", "prune"),
                   ("image", "rm", "bbtest"), ("image", "fsck", "--repair")):
        proc = cli(*writer)
        assert proc.returncode == 2, (writer, proc.stderr)
        assert "read-only" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert "cannot create" not in proc.stderr
    assert _tree(read_only_store) == before
