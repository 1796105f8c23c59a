"""Issue 16 item 3: the inheritable and ambient sets are empty under every profile unless
the profile names capabilities for them (with a reason); container root still holds the
profile's list after execve, from the bounding set, and a non-root user holds none.

Read from /proc/self/status inside real busybox containers, as root and as ``--user 1000``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hardbox.runtime import capabilities
from hardbox.runtime.profile.load import load_profile

pytestmark = pytest.mark.root

SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
# Prints the five sets, then proves root's CAP_CHOWN is effective in a program it executed.
PROBE = "grep ^Cap /proc/self/status; touch /tmp/f && chown 1234 /tmp/f && echo chown=ok || echo chown=refused"


@pytest.fixture(scope="module")
def store(busybox_layout: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, idmapped mounts and cgroups are set up for real")
    root = tmp_path_factory.mktemp("capsets") / "store"
    proc = subprocess.run([sys.executable, "-m", "hardbox", "image", "import", busybox_layout.ref, "--tag", "bbtest"],
                          capture_output=True, text=True, env={**os.environ, "HARDBOX_ROOT": str(root)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root


def status(store: Path, profile: str, *options: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "hardbox", "run", "--rm", "--profile", profile, *options, "bbtest", "sh", "-c", PROBE],
        capture_output=True, text=True, env={**os.environ, "HARDBOX_ROOT": str(store)}, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition(":") if line.startswith("Cap") else line.partition("=")
        if sep:
            out[key] = int(value.strip(), 16) if key in SETS else value.strip()
    return out


def mask(profile: str) -> int:
    return capabilities.to_mask(load_profile(profile).capabilities)


def test_default_root_holds_the_list_with_inheritable_and_ambient_empty(store: Path) -> None:
    got = status(store, "default", "--user", "0")
    want = mask("default")
    assert want and (got["CapBnd"], got["CapPrm"], got["CapEff"]) == (want, want, want)
    assert got["CapInh"] == 0 and got["CapAmb"] == 0
    assert got["chown"] == "ok"  # effective past execve, with no ambient set


def test_default_non_root_user_holds_nothing(store: Path) -> None:
    got = status(store, "default", "--user", "1000")
    assert got["CapBnd"] == mask("default")
    assert (got["CapInh"], got["CapPrm"], got["CapEff"], got["CapAmb"]) == (0, 0, 0, 0)
    assert got["chown"] == "refused"


@pytest.mark.parametrize("user", ["0", "1000"])
def test_strict_holds_nothing(store: Path, user: str) -> None:
    got = status(store, "strict", "--user", user)
    assert all(got[k] == 0 for k in SETS), got


def test_a_profile_asking_for_an_ambient_capability_gets_exactly_it(store: Path, tmp_path: Path) -> None:
    profile = tmp_path / "web.yaml"
    profile.write_text(
        "extends: default\n"
        "capabilities_ambient:\n"
        "  - name: NET_BIND_SERVICE\n"
        "    reason: the server binds port 80 as user 1000\n"
    )
    bind = capabilities.to_mask(["CAP_NET_BIND_SERVICE"])
    for user in ("0", "1000"):
        got = status(store, str(profile), "--user", user)
        assert got["CapAmb"] == bind and got["CapInh"] == bind, (user, got)
        assert got["CapBnd"] == mask("default")
    non_root = status(store, str(profile), "--user", "1000")
    assert non_root["CapPrm"] == bind and non_root["CapEff"] == bind

    # --cap-drop of it empties the ambient set too, rather than failing to start.
    dropped = status(store, str(profile), "--user", "1000", "--cap-drop", "NET_BIND_SERVICE")
    assert dropped["CapAmb"] == 0 and dropped["CapPrm"] == 0
