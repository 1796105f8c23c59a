"""Issue 16 item 2: ``gate --probe`` runs the probe as written, as the container's whole
command — the way ``minimize --probe`` does — never as arguments to the image's ENTRYPOINT.

Two real images (busybox-static, umoci, skopeo): one with ``ENTRYPOINT ["/bin/true"]``,
which used to pass every probe, and one whose entrypoint is an interpreter running an app
script (``/bin/sh /app/app.py``, the shape of ``python3 /app/app.py``), which used to fail
every probe because the app got the probe as its arguments.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root


def hardbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardbox", *args], capture_output=True, text=True, timeout=600)


def _tool(*argv: str | Path) -> None:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    assert proc.returncode == 0, f"{argv[0]}: {proc.stderr}"


def _variant(base: Any, workdir: Path, name: str, *config: str, files: dict[str, str] | None = None) -> Path:
    """A copy of the busybox layout with more files and ``umoci config`` changes, as a
    docker-archive tagged NAME:latest."""
    layout = workdir / name
    shutil.copytree(base.layout, layout)
    ref = f"{layout}:{base.tag}"
    if files:
        bundle = workdir / f"{name}-bundle"
        _tool("umoci", "unpack", "--image", ref, bundle)
        for path, text in files.items():
            target = bundle / "rootfs" / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(0o755)
        _tool("umoci", "repack", "--image", ref, "--history.created_by", "COPY app /app", bundle)
    _tool("umoci", "config", "--image", ref, *config)
    archive = workdir / f"{name}.tar"
    _tool("skopeo", "copy", "-q", f"oci:{ref}", f"docker-archive:{archive}:{name}:latest")
    return archive


APP = """#!/bin/sh
# Like a python app: it takes no arguments and refuses any it is given.
if [ "$#" -gt 0 ]; then echo "usage: app.py (no arguments), got: $*" >&2; exit 2; fi
echo serving
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, busybox_layout: Any) -> Any:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe starts a real container")
    for tool in ("umoci", "skopeo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    work = tmp_path_factory.mktemp("probe-entrypoint")
    true_image = _variant(busybox_layout, work, "entry-true", "--config.entrypoint=/bin/true", "--clear=config.cmd")
    app_image = _variant(busybox_layout, work, "entry-app", "--config.entrypoint=/bin/sh",
                         "--config.entrypoint=/app/app.py", "--clear=config.cmd",
                         files={"/app/app.py": APP})  # fmt: skip
    feed = work / "feed"
    feed.mkdir()
    (feed / "OSV-1.json").write_text(json.dumps({
        "id": "OSV-1", "modified": "2024-05-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "npm", "name": "not-in-these-images"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}],
    }))  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARDBOX_ROOT", str(work / "store"))
        for step in (("db", "import", str(feed)), ("image", "import", str(true_image)),
                     ("image", "import", str(app_image))):
            proc = hardbox(*step)
            assert proc.returncode == 0, proc.stderr
        yield work / "store"


def test_a_true_entrypoint_does_not_swallow_a_failing_probe(store: Path) -> None:
    proc = hardbox("gate", "entry-true", "--profile", "default", "--probe", "exit 3")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HB-GATE-008" in proc.stdout
    assert "probe `exit 3` under profile default exited 3" in proc.stdout
    ok = hardbox("gate", "entry-true", "--profile", "default", "--probe", "test -x /bin/busybox")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_an_interpreter_entrypoint_does_not_get_the_probe_as_arguments(store: Path) -> None:
    probe = "test -x /app/app.py && /app/app.py"
    # What the user checks by hand: the probe works with the entrypoint cleared.
    by_hand = hardbox("run", "--rm", "--profile", "default", "--entrypoint", "", "entry-app", "/bin/sh", "-c", probe)
    assert by_hand.returncode == 0 and by_hand.stdout == "serving\n", by_hand.stderr
    proc = hardbox("gate", "entry-app", "--profile", "default", "--probe", probe)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_reproduce_hint_is_the_command_that_ran(store: Path) -> None:
    proc = hardbox("gate", "entry-app", "--profile", "default", "--probe", 'echo "two  spaces" >&2; exit 4')
    assert proc.returncode == 1
    assert "exited 4" in proc.stdout
    (hint,) = [line.strip() for line in proc.stdout.splitlines() if "reproduce with:" in line]
    command = hint.split("reproduce with: ", 1)[1]
    argv = shlex.split(command)
    assert argv[:2] == ["hardbox", "run"] and "--entrypoint" in argv
    # Pasted into a shell it does what the gate did: same exit status, same output.
    again = hardbox(*argv[1:])
    assert again.returncode == 4, again.stderr
    assert "two  spaces\n" in again.stderr
