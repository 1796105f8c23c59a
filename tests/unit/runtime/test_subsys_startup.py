"""What the cgroup, network, id-map, OOM and syscall modules add to `hardbox run`'s and
`hardbox exec`'s start-up (issue 14, bench/RESULTS.md): none of the standard-library
modules that cost milliseconds there.

Read in a fresh interpreter started with ``-S`` (nothing a development venv's ``.pth`` files
import is seen). The modules these import from other parts of hardbox (errors, records,
mounts) are loaded first, so what is checked is what these modules themselves bring.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hardbox

HEAVY = (
    "pathlib", "re", "typing", "ipaddress", "contextlib", "json", "shutil", "signal", "enum",
    "functools", "collections", "argparse", "threading", "socket", "selectors", "fnmatch",
    "urllib", "urllib.parse", "dataclasses", "inspect", "subprocess", "tempfile", "string",
    "locale", "gettext", "hashlib", "bz2", "lzma",
)

RUN_AND_EXEC = (
    "hardbox.runtime.syscalls", "hardbox.runtime.capabilities", "hardbox.runtime.namespaces",
    "hardbox.runtime.network", "hardbox.runtime.cgroups", "hardbox.runtime.cgroups.v1",
    "hardbox.runtime.cgroups.v2", "hardbox.runtime.cgroups.devices", "hardbox.runtime.net.options",
    "hardbox.runtime.net.host", "hardbox.runtime.idmap", "hardbox.runtime.oom", "hardbox.image.userns",
)


def added_by(first: tuple[str, ...], then: tuple[str, ...]) -> set[str]:
    """The modules importing ``then`` loads after ``first`` is loaded."""
    code = (f"import sys\nimport {', '.join(first)}\nbefore = set(sys.modules)\n"
            f"import {', '.join(then)}\nprint(' '.join(set(sys.modules) - before))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(hardbox.__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(out.stdout.split())


def test_cgroups_idmap_oom_syscalls_and_net_load_no_heavy_module() -> None:
    added = added_by(("hardbox.errors", "hardbox.records"), RUN_AND_EXEC)
    assert "hardbox.runtime.cgroups.v1" in added and "ctypes" in added  # the probe sees imports
    assert sorted(m for m in HEAVY if m in added) == []
    # bpf(2)'s structures are loaded by a v2 host's device program only.
    assert "hardbox.runtime.bpf" not in added


def test_the_etc_files_and_the_network_plan_load_no_heavy_module() -> None:
    added = added_by(("hardbox.errors", "hardbox.records", "hardbox.runtime.mounts"),
                     ("hardbox.runtime.net.plan", "hardbox.runtime.net.etcfiles"))
    assert "hardbox.runtime.net.etcfiles" in added
    assert sorted(m for m in HEAVY if m in added) == []


def test_a_strict_runs_network_plan_and_etc_files_load_no_ipaddress(tmp_path: Path) -> None:
    """Network none, the host's resolvers IPv4: the plan and the three /etc files are made
    without ipaddress or re (an IPv6 resolver or -p/--dns/--add-host may load them)."""
    code = ("import sys\nimport hardbox.runtime.mounts\nbefore = set(sys.modules)\n"
            "from hardbox.runtime.net import etcfiles, host, plan, options\n"
            "host.RESOLV_CONF = sys.argv[1]\n"
            "p = plan.make_network_plan('none', options.NetworkOptions.parse([], False, [], []), (), 'c1')\n"
            "etcfiles.write(sys.argv[2], p, ())\n"
            "print(' '.join(set(sys.modules) - before))\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.53\nnameserver 192.168.1.1\nsearch example.org\n")
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(hardbox.__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-S", "-c", code, str(resolv), str(state)], capture_output=True,
                         text=True, env=env, check=True)
    added = set(out.stdout.split())
    assert sorted(m for m in HEAVY if m in added) == []
    assert (state / "resolv.conf").read_text().splitlines()[1:] == [
        "nameserver 10.0.0.53", "nameserver 192.168.1.1", "search example.org"]
    assert oct((state / "hosts").stat().st_mode & 0o777) == "0o644"


def test_the_uplink_of_a_private_run_loads_no_heavy_module() -> None:
    """--network private: pasta's module, finding the pasta command, reading the default
    route and choosing free ports for -p bring none of them either (no pathlib, dataclasses,
    shutil, socket.py, signal.py)."""
    code = ("import sys\nimport hardbox.runtime.mounts, hardbox.runtime.state, hardbox.runtime.process\n"
            "from hardbox.errors import ContainerError\nbefore = set(sys.modules)\n"
            "from hardbox.runtime.net import host, options, pasta, plan\nhost.find_pasta()\n"
            "wanted = options.NetworkOptions.parse(['127.0.0.1::80', '127.0.0.1::53/udp'], False, [], [])\n"
            "try:\n    chosen = plan.make_network_plan('private', wanted, (), 'c1').ports\n"
            "    assert all(p.host_port for p in chosen) and len(chosen) == 2, chosen\n"
            "except ContainerError:\n    pass  # a host without a default route\n"
            "print(' '.join(set(sys.modules) - before))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(hardbox.__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, check=True)
    added = set(out.stdout.split())
    assert "hardbox.runtime.net.pasta" in added
    assert sorted(m for m in (*HEAVY, "dataclasses", "selectors") if m in added) == []
