"""`hardbox image export` to stdout, as `docker save` writes to a pipe, and `image import`
errors that name file formats rather than Python's (issue 17)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import pty
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard
from helpers.cli import hardbox


@pytest.fixture
def stored(busybox_archive: Path, hardbox_root: Path) -> Path:
    hardbox("image", "import", str(busybox_archive), check=True)
    return hardbox_root


def _export_bytes(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hardbox", "image", "export", *args],
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("args", [["bbtest"], ["bbtest", "-o", "-"], ["-o", "-", "--format", "docker-archive", "bbtest"]])
def test_a_docker_archive_goes_to_stdout_when_piped(stored: Path, tmp_path: Path, args: list[str]) -> None:
    proc = _export_bytes(*args)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "saved.tar"
    out.write_bytes(proc.stdout)
    with tarfile.open(out) as tar:
        assert "manifest.json" in tar.getnames()
    # The same bytes -o FILE writes, and skopeo reads them as Docker's own format.
    hardbox("image", "export", "bbtest", "-o", str(tmp_path / "file.tar"), check=True)
    assert (tmp_path / "file.tar").read_bytes() == proc.stdout
    inspect = subprocess.run(["skopeo", "inspect", f"docker-archive:{out}"], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr


def test_an_oci_archive_to_stdout_imports_again(stored: Path, tmp_path: Path) -> None:
    proc = _export_bytes("bbtest", "-o", "-", "--format", "oci-archive")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "oci.tar"
    out.write_bytes(proc.stdout)
    other = tmp_path / "other-store"
    again = hardbox("image", "import", str(out), env={**os.environ, "HARDBOX_ROOT": str(other)})
    assert again.returncode == 0, again.stderr


def test_an_oci_directory_cannot_go_to_stdout(stored: Path) -> None:
    proc = _export_bytes("bbtest", "-o", "-", "--format", "oci")
    assert proc.returncode == 2 and proc.stdout == b""
    assert b"--format oci is a directory and cannot be written to stdout" in proc.stderr
    assert proc.stderr.count(b"\n") == 2  # the message and its hint


def test_no_archive_is_written_to_a_terminal(stored: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout is the pty
        os.execv(sys.executable, [sys.executable, "-m", "hardbox", "image", "export", "bbtest"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 2
    assert b"refusing to write an image archive to the terminal" in out
    assert b"manifest.json" not in out


def _files(tmp_path: Path, busybox_archive: Path) -> dict[str, Path]:
    text = b"hello, not an image\n"
    made = {
        "junk": os.urandom(4096), "text": text, "empty": b"", "gzip": gzip.compress(text),
        "bzip2": bz2.compress(text), "xz": lzma.compress(text),
        "zstd": zstandard.ZstdCompressor().compress(busybox_archive.read_bytes()),
        "truncated": busybox_archive.read_bytes()[:3000],
    }
    paths = {}
    for name, data in made.items():
        paths[name] = tmp_path / f"{name}.bin"
        paths[name].write_bytes(data)
    paths["zip"] = tmp_path / "a.zip"
    with zipfile.ZipFile(paths["zip"], "w") as z:
        z.writestr("manifest.json", "[]")
    return paths


@pytest.mark.parametrize("kind, words", [
    ("junk", "not a tar archive (nor one compressed with gzip, bzip2 or xz, the compressions hardbox reads)"),
    ("text", "not a tar archive"),
    ("empty", "an empty file, not an image archive"),
    ("gzip", "a gzip-compressed file that does not hold a tar archive"),
    ("bzip2", "a bzip2-compressed file that does not hold a tar archive"),
    ("xz", "an xz-compressed file that does not hold a tar archive"),
    ("zstd", "a zstd-compressed file; hardbox reads tar archives plain or compressed with gzip, bzip2, xz"),
    ("truncated", "a tar archive that ends early"),
    ("zip", "a zip archive, not a tar archive"),
])
def test_import_errors_speak_of_formats(busybox_archive: Path, tmp_path: Path, hardbox_root: Path,
                                        kind: str, words: str) -> None:
    path = _files(tmp_path, busybox_archive)[kind]
    proc = hardbox("image", "import", str(path))
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert first == f"hardbox: {path}: {words}" or first.startswith(f"hardbox: {path}: {words}"), first
    for internal in ("ReadError", "invalid header", "Error(", "method tar"):
        assert internal not in proc.stderr
