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
def test_apply_sets_three_sets_and_leaves_inheritable_and_ambient_empty(names):
    """Docker's sets since CVE-2022-24769: root needs no inheritable or ambient capability."""
    def body() -> bytes:
        capabilities.apply(names, last=capabilities.last_cap())
        s = _status()
        return " ".join(s[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")).encode()

    code, out = in_child(body)
    want = f"{capabilities.to_mask(names):016x}"
    none = f"{0:016x}"
    assert code == 0, out
    assert out.decode().split() == [none, want, want, want, none]


@pytest.mark.root
def test_apply_sets_named_inheritable_and_ambient_capabilities_exactly():
    def body() -> bytes:
        capabilities.apply(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"], last=capabilities.last_cap(),
                           inheritable=["CAP_KILL"], ambient=["CAP_NET_BIND_SERVICE"])
        s = _status()
        return " ".join(s[k].strip() for k in ("CapInh", "CapAmb")).encode()

    code, out = in_child(body)
    assert code == 0, out
    inh = capabilities.to_mask(["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    amb = capabilities.to_mask(["CAP_NET_BIND_SERVICE"])
    assert out.decode().split() == [f"{inh:016x}", f"{amb:016x}"]


def test_apply_refuses_ambient_outside_the_list_before_changing_anything():
    with pytest.raises(UsageError, match="CAP_SYS_ADMIN"):
        capabilities.apply(["CAP_CHOWN"], last=capabilities.last_cap(), ambient=["CAP_SYS_ADMIN"])


@pytest.mark.root
@pytest.mark.parametrize("ambient", [True, False])
def test_apply_after_switching_to_a_non_root_uid(ambient):
    """setuid away from 0 empties the effective set; apply must still drop the bounding set.
    Without an ambient capability, the capabilities are gone after execve (Docker's non-root
    semantics); with one named, exactly it survives."""
    from hardbox.runtime.process import User, switch_user

    def body() -> bytes:
        switch_user(User(1000, 1000, (), "/"))
        capabilities.apply(["CAP_NET_BIND_SERVICE"], last=capabilities.last_cap(),
                           ambient=["CAP_NET_BIND_SERVICE"] if ambient else [])
        s = _status()
        before = f"{os.getuid()} {s['CapEff'].strip()} {s['CapBnd'].strip()} {s['CapAmb'].strip()}"
        after = subprocess.run(["grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status"], capture_output=True, text=True)
        return f"{before} | {' '.join(line.split()[1] for line in after.stdout.splitlines())}".encode()

    net = f"{1 << 10:016x}"
    amb = net if ambient else f"{0:016x}"
    after_exec = f"{net if ambient else f'{0:016x}'} {net}"
    assert in_child(body) == (0, f"1000 {net} {net} {amb} | {after_exec}".encode())


@pytest.mark.root
def test_no_new_privs():
    def body() -> bytes:
        capabilities.set_no_new_privs()
        return _status()["NoNewPrivs"].strip().encode()

    assert in_child(body) == (0, b"1")
