"""The egress policy on real traffic: a container of the busybox image under a profile with a
``deny`` policy, wired by a veth pair to a network namespace the test creates (its
"internet", helpers/testnet.py) where a server listens on every port the test tries.
Allowed destinations answer; denied ones fail at once (a reset or an ICMP error from the
container's own rules, not a timeout) and the server never sees them. The workload cannot
flush the rules; a profile with a bad CIDR is refused naming it.

The container is started detached and probed with `hardbox exec`, which shares its network
namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.hbrun import RunStore, make_store
from helpers.profiles import egress_profile
from helpers.testnet import (
    SERVER,
    SERVER6,
    build_tools,
    in_netns,
    internet,
    parse_probe,
    seen,
    wire,
)

pytestmark = [pytest.mark.root, pytest.mark.network]

POLICY = egress_profile(
    "{cidr: 203.0.113.1, ports: [8080], proto: tcp}",
    '{cidr: "2001:db8:113::/64", ports: [443], proto: tcp}',
    "{cidr: 203.0.113.0/24, ports: [5353], proto: udp}",
)


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:  # type: ignore[no-untyped-def]
    need_tool("nft", "nsenter", "ip", "unshare", "gcc")
    return make_store(tmp_path_factory.mktemp("egress") / "store", busybox_layout.ref)


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tools(tmp_path_factory.mktemp("tools"), with_nft=True)


@pytest.fixture(scope="module", name="internet")
def internet_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    with internet(tmp_path_factory.mktemp("internet")) as server:
        yield server


@pytest.fixture
def container(store: RunStore, tools: Path, internet: tuple[int, Path],
              tmp_path: Path) -> Iterator[Callable[..., tuple[str, int]]]:
    """Start a detached container (profile text or name, extra run options), wired to the
    test's internet; returns (id, PID 1's host pid). Removed after the test."""
    started: list[str] = []

    def start(profile: str, *options: str) -> tuple[str, int]:
        if "\n" in profile:
            path = tmp_path / f"profile{len(started)}.yaml"
            path.write_text(profile)
            profile = str(path)
        # As container root (the image's user is 1000): the strongest workload there is.
        proc = store.hardbox("run", "-d", "-u", "0", "--profile", profile, "-v", f"{tools}:/tools:ro", *options,
                             "bbtest", "sleep", "600")
        assert proc.returncode == 0, proc.stderr
        cid = proc.stdout.strip()
        started.append(cid)
        states = json.loads(store.hardbox("ps", "--json").stdout)
        pid = next(int(s["pid"]) for s in states if s["id"] == cid)
        wire(internet[0], pid)
        return cid, pid

    yield start
    for cid in started:
        store.hardbox("rm", "-f", cid)


def probe(store: RunStore, cid: str, proto: str, host: str, port: int) -> tuple[str, str, float]:
    """("ok", the server's reply, ms) or ("err", ERRNO, ms), from inside the container."""
    proc = store.hardbox("exec", cid, "/tools/probe", proto, host, str(port))
    assert proc.returncode in (0, 1), proc.stderr
    return parse_probe(proc.stdout)


def test_allowed_destinations_answer_and_denied_ones_fail_at_once(store, container, internet) -> None:  # type: ignore[no-untyped-def]
    cid, _ = container(POLICY)
    log = internet[1]
    log.write_text("")
    assert probe(store, cid, "tcp", SERVER, 8080)[:2] == ("ok", "ok 8080")
    assert probe(store, cid, "tcp", SERVER6, 443)[:2] == ("ok", "ok 443")
    assert probe(store, cid, "udp", SERVER, 5353)[:2] == ("ok", "ok 5353")
    for proto, host, port in (("tcp", SERVER, 9090), ("tcp", SERVER, 443), ("tcp", SERVER6, 8080),
                              ("udp", SERVER, 5354), ("udp", SERVER6, 5353)):
        status, errno, _ = probe(store, cid, proto, host, port)
        # Rejected by the container's own rules: a reset or an ICMP error. A dropped packet
        # would end in EAGAIN/ETIMEDOUT at the probe's 5 s limit instead (the errno tells,
        # with no timing asserted).
        assert status == "err" and errno in ("ECONNREFUSED", "EHOSTUNREACH", "EACCES", "EPERM"), (proto, host, port, errno)
    # The server saw exactly the allowed three: the denied ones never left the container.
    assert {line.split()[0] + " " + line.split()[1] for line in seen(log)} == {"tcp 8080", "tcp 443", "udp 5353"}
    assert all(line.split()[2] in ("::ffff:203.0.113.2", "2001:db8:113::2") for line in seen(log))


def test_without_a_policy_the_same_destinations_are_reached(store, container, internet) -> None:  # type: ignore[no-untyped-def]
    # The control: the default profile (egress allow, no rules) reaches the ports the
    # policy above denies, so what refused them was the policy.
    cid, pid = container("default")
    assert probe(store, cid, "tcp", SERVER, 9090)[:2] == ("ok", "ok 9090")
    assert probe(store, cid, "udp", SERVER, 5354)[:2] == ("ok", "ok 5354")
    assert "hardbox" not in in_netns(pid, "nft", "list", "tables").stdout


def test_dns_true_lets_the_containers_resolver_through_and_nothing_else(store, container, internet) -> None:  # type: ignore[no-untyped-def]
    # The test's server is the container's resolver (--dns): port 53 of it passes, udp and
    # tcp; its other ports do not; without dns: true, neither does 53.
    dns = "extends: default\nnetwork:\n  mode: private\n  egress: {default: deny, dns: true}\n"
    cid, _ = container(dns, "--dns", SERVER)
    assert probe(store, cid, "udp", SERVER, 53)[:2] == ("ok", "ok 53")
    assert probe(store, cid, "tcp", SERVER, 53)[:2] == ("ok", "ok 53")
    assert probe(store, cid, "udp", SERVER, 5353)[0] == "err"
    cid, _ = container(dns.replace("dns: true", "dns: false"), "--dns", SERVER)
    assert probe(store, cid, "udp", SERVER, 53)[0] == "err"


def run_nft(store: RunStore, cid: str, *args: str) -> subprocess.CompletedProcess[str]:
    # The host's nft, run by its own loader from /tools (the busybox image has no libc).
    return store.hardbox("exec", cid, "/tools/ld-linux-x86-64.so.2", "--library-path", "/tools", "/tools/nft", *args)


def test_the_workload_cannot_flush_the_rules(store, container, internet) -> None:  # type: ignore[no-untyped-def]
    cid, pid = container(POLICY)
    before = in_netns(pid, "nft", "list", "ruleset").stdout
    assert "table inet hardbox" in before and "reject with tcp reset" in before
    proc = run_nft(store, cid, "flush", "ruleset")
    assert proc.returncode != 0 and "Operation not permitted" in proc.stdout + proc.stderr
    assert in_netns(pid, "nft", "list", "ruleset").stdout == before
    assert probe(store, cid, "tcp", SERVER, 9090)[0] == "err"
    # The control: with CAP_NET_ADMIN (and no policy, which the model insists on) the same
    # nft does reach the kernel's tables from inside, so it was the capability that stopped it.
    other, _ = container("default", "--cap-add", "NET_ADMIN")
    proc = run_nft(store, other, "list", "tables")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_explain_lists_the_rules(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    proc = store.hardbox("run", "--explain", "--json", "--profile", str(path), "bbtest")
    assert proc.returncode == 0, proc.stderr
    step = next(s for s in json.loads(proc.stdout)["steps"] if s["step"] == "egress")
    assert step["status"] == "applied"
    assert step["setting"] == ("allow tcp to 203.0.113.1/32 port 8080; allow tcp to 2001:db8:113::/64 port 443; "
                               "allow udp to 203.0.113.0/24 port 5353; reject everything else at once "
                               "(tcp reset, icmp admin-prohibited), IPv4 and IPv6 (nftables in the container's namespace)")


@pytest.mark.parametrize(("cidr", "named"), [("10.0.0.1/8", "has host bits set"), ("10.0.0.300", "does not parse"),
                                             ("fe80::/129", "does not parse")])
def test_a_bad_cidr_is_refused_with_exit_125_naming_it(store, tmp_path: Path, cidr: str, named: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: default\nnetwork:\n  egress:\n    default: deny\n    allow: [{{cidr: '{cidr}'}}]\n")
    before = store.containers()
    proc = store.hardbox("run", "--rm", "--profile", str(path), "bbtest", "true")
    assert proc.returncode == 125
    line = proc.stderr.splitlines()[0]
    assert f"{path}:5: network.egress.allow.0.cidr" in line and repr(cidr) in line and named in line, line
    assert store.containers() == before


def test_the_rules_go_with_the_container(store, container) -> None:  # type: ignore[no-untyped-def]
    cid, pid = container(POLICY)
    netns = os.stat(f"/proc/{pid}/ns/net").st_ino
    assert store.hardbox("rm", "-f", cid).returncode == 0
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    # Nothing of the namespace (and so of its nftables table) is held by any process left.
    holders = [p for p in os.listdir("/proc") if p.isdigit() and _netns_of(p) == netns]
    assert holders == []


def _netns_of(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
