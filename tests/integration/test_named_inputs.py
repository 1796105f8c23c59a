"""A named input that is a FIFO or a device is refused in one line, exit 2, without opening
it (issue 16 item 9): before, ``image import /dev/zero`` or a FIFO named ``x.tar`` hung for
ever. Every command's named inputs go through ``hardbox.named_input``; each is driven here
through the CLI, with a timeout standing in for "hangs"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cli import hardbox

TIMEOUT = 60  # seconds; the refusal takes well under one, a hang takes for ever


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "x.tar"
    os.mkfifo(path)
    return path


def cases(fifo: Path) -> list[tuple[list[str], str, str]]:
    """(arguments, the path as the message names it, what it is)."""
    f = str(fifo)
    return [
        (["image", "import", "/dev/zero"], "/dev/zero", "a character device"),
        (["image", "import", f], f, "a FIFO"),
        (["image", "import", "oci-archive:/dev/zero"], "/dev/zero", "a character device"),
        (["image", "import", f"docker-archive:{f}"], f, "a FIFO"),
        (["image", "import", f"oci:{f}:latest"], f, "a FIFO"),
        (["gate", "oci-archive:/dev/zero"], "/dev/zero", "a character device"),
        (["scan", f"docker-archive:{f}"], f, "a FIFO"),
        (["lint", f], f"Dockerfile {f}", "a FIFO"),
        (["lint", "/dev/zero"], "Dockerfile /dev/zero", "a character device"),
        (["gate", "bbtest", "--policy", f], f"policy {f}", "a FIFO"),
        (["gate", "bbtest", "--exceptions", f], f"exceptions {f}", "a FIFO"),
        (["gate", "bbtest", "--vex", "/dev/zero"], "VEX /dev/zero", "a character device"),
        (["gate", "bbtest", "--vex", f], f"VEX {f}", "a FIFO"),
        (["gate", "bbtest", "--dockerfile", f], f"Dockerfile {f}", "a FIFO"),
        (["gate", "--k8s", f], f"manifest {f}", "a FIFO"),
        (["gate", "--k8s", "/dev/zero"], "manifest /dev/zero", "a character device"),
        (["db", "import", f], f"OSV input {f}", "a FIFO"),
        (["scan", "bbtest", "--db", f], f"vulnerability database {f}", "a FIFO"),
    ]


def test_fifos_and_devices_are_refused_without_opening(fifo: Path, hardbox_root: Path) -> None:
    for args, named, kind in cases(fifo):
        proc = hardbox(*args, timeout=TIMEOUT)
        assert proc.returncode == 2, (args, proc.stderr)
        first = proc.stderr.splitlines()[0]
        assert first == f"hardbox: {named}: {kind}, not a regular file or directory", (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_run_refuses_a_fifo_profile_with_125(fifo: Path, hardbox_root: Path) -> None:
    proc = hardbox("run", "--profile", str(fifo), "bbtest", "--", "true", timeout=TIMEOUT)
    assert proc.returncode == 125, proc.stderr
    assert str(fifo) in proc.stderr.splitlines()[0]


def test_a_symlink_to_a_regular_file_is_still_a_file(tmp_path: Path, hardbox_root: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text("FROM alpine:3.20\nUSER 10001\n")
    link = tmp_path / "link"
    link.symlink_to(df)
    assert hardbox("lint", str(link), timeout=TIMEOUT).returncode == 0


def test_the_check_names_each_kind(tmp_path: Path) -> None:
    import socket

    from hardbox.errors import InputError
    from hardbox.named_input import require_file_or_dir

    assert require_file_or_dir(tmp_path) == tmp_path
    assert require_file_or_dir(tmp_path / "missing") == tmp_path / "missing"
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(InputError, match="s: a socket, not a regular file"):
            require_file_or_dir(sock_path, "policy")
    with pytest.raises(InputError, match=r"^/dev/null: a character device"):
        require_file_or_dir("/dev/null")
