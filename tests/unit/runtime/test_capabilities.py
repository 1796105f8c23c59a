"""Capability names and numbers, and setting the five sets for real in a child."""

from __future__ import annotations

import os
import subprocess

import pytest
from runtime_forked import in_child

from hardbox.errors import UsageError
from hardbox.runtime import capabilities


def test_names_and_numbers_round_trip():
    assert capabilities.normalize("net_raw") == "CAP_NET_RAW"
    assert capabilities.normalize("CAP_SYS_ADMIN") == "CAP_SYS_ADMIN"
    assert capabilities.number("SYS_ADMIN") == 21
    assert capabilities.name_of(0) == "CAP_CHOWN"
    mask = capabilities.to_mask(["CHOWN", "NET_BIND_SERVICE"])
    assert mask == (1 << 0) | (1 << 10)
    assert capabilities.from_mask(mask) == ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]


def test_table_covers_this_kernel():
    # A kernel with a capability our table lacks would leave it undroppable by name.
    assert capabilities.last_cap() <= len(capabilities.CAPABILITIES) - 1


def test_unknown_capability_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown capability 'fly'"):
        capabilities.normalize("fly")


def _status() -> dict[str, str]:
    with open("/proc/self/status") as fh:
        return dict(line.split(":\t", 1) for line in fh.read().splitlines() if ":\t" in line)


@pytest.mark.root
@pytest.mark.parametrize("names", [[], ["CAP_CHOWN", "CAP_KILL"]])
def test_apply_sets_all_five_sets_exactly(names):
    def body() -> bytes:
        capabilities.apply(names, last=capabilities.last_cap())
        s = _status()
        return " ".join(s[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")).encode()

    code, out = in_child(body)
    want = f"{capabilities.to_mask(names):016x}"
    assert code == 0, out
    assert out.decode().split() == [want] * 5


@pytest.mark.root
@pytest.mark.parametrize("ambient", [True, False])
def test_apply_after_switching_to_a_non_root_uid(ambient):
    """setuid away from 0 empties the effective set; apply must still drop the bounding set.
    Without ambient, the capabilities are gone after execve (Docker's non-root semantics)."""
    from hardbox.runtime.process import User, switch_user

    def body() -> bytes:
        switch_user(User(1000, 1000, (), "/"))
        capabilities.apply(["CAP_NET_BIND_SERVICE"], last=capabilities.last_cap(), ambient=ambient)
        s = _status()
        before = f"{os.getuid()} {s['CapEff'].strip()} {s['CapBnd'].strip()} {s['CapAmb'].strip()}"
        after = subprocess.run(["grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status"], capture_output=True, text=True)
        return f"{before} | {' '.join(line.split()[1] for line in after.stdout.splitlines())}".encode()

    net = f"{1 << 10:016x}"
    amb = net if ambient else f"{0:016x}"
    after_exec = f"{net if ambient else f'{0:016x}'} {net}"
    assert in_child(body) == (0, f"1000 {net} {net} {amb} | {after_exec}".encode())


def test_only_root_keeps_capabilities_past_exec():
    assert capabilities.for_user(0) is True
    assert capabilities.for_user(1000) is False


@pytest.mark.root
def test_no_new_privs():
    def body() -> bytes:
        capabilities.set_no_new_privs()
        return _status()["NoNewPrivs"].strip().encode()

    assert in_child(body) == (0, b"1")
