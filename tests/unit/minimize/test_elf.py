"""The static ELF closure, checked against glibc's own ``ldd`` run inside the image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbox.minimize.elf import Closure, ElfResolver, MalformedElf, read_elf
from hardbox.minimize.rootview import RootView


def _ldd(root: Path, exe: str) -> set[str]:
    out = subprocess.run(["chroot", str(root), "/usr/bin/ldd", exe], capture_output=True, text=True, check=True)
    paths = set()
    for line in out.stdout.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+) \(0x", line)
        if m:
            paths.add(m.group(1))
    return paths


def _objects(closure: Closure) -> set[str]:
    return {p for p, reasons in closure.keep.items() if "elf-visited" in reasons}


@pytest.mark.root
@pytest.mark.parametrize("exe", ["/usr/bin/bash", "/usr/bin/perl", "/usr/bin/ls", "/usr/bin/getent"])
def test_closure_matches_ldd(debian_rootfs: Path, exe: str) -> None:
    view = RootView(debian_rootfs)
    closure = ElfResolver(view).closure([exe], "probe")
    assert not closure.missing, closure.missing
    expected = {view.resolve(p).path for p in _ldd(debian_rootfs, exe)} | {view.resolve(exe).path}
    assert _objects(closure) == expected
    # Every symlink on the way (e.g. /lib64 -> usr/lib64 … ld-linux) is kept too.
    for p in _ldd(debian_rootfs, exe):
        for link in view.resolve(p).links:
            assert link in closure.keep


def _build_origin_image(tmp_path: Path) -> Path:
    """A root with /app/bin/main linked to /app/lib/libgreet.so via RUNPATH $ORIGIN/../lib,
    plus the host libc it needs (gcc from Debian builds it)."""
    root = tmp_path / "root"
    (root / "app/bin").mkdir(parents=True)
    (root / "app/lib").mkdir(parents=True)
    src = tmp_path / "src"
    src.mkdir()
    (src / "greet.c").write_text('#include <stdio.h>\nvoid greet(void){puts("hello from libgreet");}\n')
    (src / "main.c").write_text("void greet(void);\nint main(void){greet();return 0;}\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", root / "app/lib/libgreet.so", src / "greet.c"], check=True)
    subprocess.run(
        ["gcc", "-o", root / "app/bin/main", src / "main.c", "-L", root / "app/lib", "-lgreet",
         "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"],
        check=True,
    )
    for lib in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dest)
    return root


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed (scripts/install-deps.sh installs it)")
def test_origin_runpath_is_followed(tmp_path: Path) -> None:
    root = _build_origin_image(tmp_path)
    view = RootView(root)
    info = read_elf(view, "/app/bin/main")
    assert info is not None and info.runpath == ("$ORIGIN/../lib",) and not info.rpath
    closure = ElfResolver(view).closure(["/app/bin/main"], "entrypoint")
    assert not closure.missing
    assert {"/app/bin/main", "/app/lib/libgreet.so", "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2"} == _objects(closure)
    # The closure really is enough: the program runs in a chroot holding only those files.
    # ld.so finds $ORIGIN of the main program through /proc/self/exe, so /proc is mounted
    # (as any container has it).
    if os.geteuid() == 0:
        (root / "proc").mkdir()
        out = subprocess.run(
            ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root}/proc",
             "chroot", str(root), "/app/bin/main"],
            capture_output=True, text=True,
        )
        assert out.stdout == "hello from libgreet\n", out.stderr


def test_wrong_class_candidates_are_skipped_and_missing_is_reported(tmp_path: Path) -> None:
    root = _build_origin_image(tmp_path)
    # A decoy of the wrong kind where the loader would look first: not an ELF for this machine.
    (root / "app/lib/libgreet.so").rename(root / "app/lib/libgreet.so.real")
    (root / "app/lib/libgreet.so").write_bytes(b"\x7fELF" + b"\x01" * 60)  # 32-bit garbage
    closure = ElfResolver(RootView(root)).closure(["/app/bin/main"], "entrypoint")
    assert closure.missing == {"libgreet.so": {"/app/bin/main"}}


def test_hostile_elf_files_are_recorded_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    real = Path(os.path.realpath("/bin/busybox")).read_bytes()
    (root / "bin/truncated").write_bytes(real[:200])
    (root / "bin/lying").write_bytes(real[:64] + b"\xff" * 4096)
    (root / "bin/script").write_text("#!/bin/sh\necho hi\n")
    view = RootView(root)
    assert read_elf(view, "/bin/script") is None
    for name in ("truncated", "lying"):
        with pytest.raises(MalformedElf):
            read_elf(view, f"/bin/{name}")
        closure = ElfResolver(view).closure([f"/bin/{name}"], "probe")
        assert closure.errors and name in closure.errors[0]


def test_symlinks_cannot_climb_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    (root / "lib/escape").symlink_to("../../../../../../etc")
    (root / "lib/abs").symlink_to("/etc")
    view = RootView(root)
    resolved = view.resolve("/lib/escape/passwd")
    assert resolved.path == "/etc/passwd" and not resolved.exists
    assert resolved.links == ("/lib/escape",)
    assert view.resolve("/lib/abs/passwd").path == "/etc/passwd"
