"""The egress policy on real traffic: a container of the busybox image under a profile with a
``deny`` policy, wired by a veth pair to a network namespace the test creates (its
"internet", 203.0.113.0/24 and 2001:db8:113::/64, documentation ranges; not 192.0.2.0/24,
which this host's own uplink, and so pasta's copy of it in the container, may use) where a server listens on
every port the test tries. Allowed destinations answer; denied ones fail at once (a reset or
an ICMP error from the container's own rules, not a timeout) and the server never sees them.
The workload cannot flush the rules; a profile with a bad CIDR is refused naming it.

The veth is made inside the test's namespace with its peer sent straight into the
container's, so nothing of the host's own network is touched; the container is started
detached and probed with `hardbox exec`, which shares its network namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root

SERVER = "203.0.113.1"
SERVER6 = "2001:db8:113::1"
TCP_PORTS = (8080, 9090, 443)
UDP_PORTS = (5353, 5354)

POLICY = """\
extends: default
network:
  mode: private
  egress:
    default: deny
    allow:
      - {cidr: 203.0.113.1, ports: [8080], proto: tcp}
      - {cidr: "2001:db8:113::/64", ports: [443], proto: tcp}
      - {cidr: 203.0.113.0/24, ports: [5353], proto: udp}
"""

# The "internet": answers "ok PORT" on every TCP and UDP port above, IPv4 and IPv6, and logs
# each connection or datagram it gets, so the test can say what never arrived.
SERVER_PY = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
log = open(sys.argv[1], "a", buffering=1)
for port in (%(tcp)s):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16); sel.register(s, selectors.EVENT_READ, ("tcp", port))
for port in (%(udp)s):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); sel.register(s, selectors.EVENT_READ, ("udp", port))
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        proto, port = key.data
        if proto == "tcp":
            conn, peer = key.fileobj.accept()
            log.write(f"tcp {port} {peer[0]}\n"); conn.sendall(b"ok %%d\n" %% port); conn.close()
        else:
            data, peer = key.fileobj.recvfrom(512)
            log.write(f"udp {port} {peer[0]}\n"); key.fileobj.sendto(b"ok %%d\n" %% port, peer)
""" % {"tcp": ", ".join(map(str, TCP_PORTS)), "udp": ", ".join(map(str, UDP_PORTS))}

# Connects (tcp) or sends and waits for an answer (udp) with a 5 s limit; prints what
# happened and how long it took: "ok <reply> <ms>" or "err <ERRNO> <ms>".
PROBE_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
static double ms(struct timespec a) {
    struct timespec b; clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int udp = strcmp(argv[1], "udp") == 0;
    struct sockaddr_storage ss = {0}; socklen_t len;
    struct sockaddr_in *in4 = (void *)&ss; struct sockaddr_in6 *in6 = (void *)&ss;
    if (inet_pton(AF_INET, argv[2], &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET; in4->sin_port = htons(atoi(argv[3])); len = sizeof *in4;
    } else if (inet_pton(AF_INET6, argv[2], &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6; in6->sin6_port = htons(atoi(argv[3])); len = sizeof *in6;
    } else return 2;
    int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct timespec t0; clock_gettime(CLOCK_MONOTONIC, &t0);
    char buf[64] = {0};
    if (connect(fd, (void *)&ss, len) != 0) goto fail;
    if (udp && send(fd, "hi", 2, 0) != 2) goto fail;
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) goto fail;
    buf[strcspn(buf, "\n")] = 0;
    printf("ok %s %.0f\n", buf, ms(t0));
    return 0;
fail:
    printf("err %s %.0f\n", strerrorname_np(errno), ms(t0));
    return 1;
}
"""


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:  # type: ignore[no-untyped-def]
    need_tool("nft", "nsenter", "ip", "unshare", "gcc")
    return make_store(tmp_path_factory.mktemp("egress") / "store", busybox_layout.ref)


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/tools for the container: the static probe, and the host's nft with every library it
    loads and the loader, run by path (the busybox image has no libc of its own)."""
    out = tmp_path_factory.mktemp("tools")
    out.chmod(0o755)  # container root is an unprivileged host uid: it must be able to look in
    (out / "probe.c").write_text(PROBE_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out / "probe"), str(out / "probe.c")], check=True)
    nft = shutil.which("nft") or "/usr/sbin/nft"
    shutil.copy2(nft, out / "nft")
    for line in subprocess.run(["ldd", nft], capture_output=True, text=True, check=True).stdout.splitlines():
        path = next((w for w in line.split() if w.startswith("/")), None)
        if path:
            shutil.copy2(path, out / Path(path).name)
    return out


@pytest.fixture(scope="module")
def internet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The server in a network namespace of its own: (its pid, its connection log)."""
    work = tmp_path_factory.mktemp("internet")
    (work / "server.py").write_text(SERVER_PY)
    log = work / "seen.log"
    log.touch()
    proc = subprocess.Popen(["unshare", "--net", "--", sys.executable, str(work / "server.py"), str(log)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc.pid, log
    finally:
        proc.kill()
        proc.wait()


def in_netns(pid: int, *cmd: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *cmd], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    return proc


def wire(server_pid: int, container_pid: int) -> None:
    """A veth pair between the server's namespace (203.0.113.1, 2001:db8:113::1) and the
    container's (203.0.113.2, 2001:db8:113::2), made inside the server's namespace."""
    peer = f"hb{container_pid}"[:15]
    in_netns(server_pid, "ip", "link", "add", peer, "type", "veth", "peer", "name", "eth9",
             "netns", f"/proc/{container_pid}/ns/net")
    in_netns(server_pid, "ip", "addr", "add", f"{SERVER}/24", "dev", peer)
    in_netns(server_pid, "ip", "-6", "addr", "add", f"{SERVER6}/64", "dev", peer, "nodad")
    in_netns(server_pid, "ip", "link", "set", peer, "up")
    in_netns(container_pid, "ip", "addr", "add", "203.0.113.2/24", "dev", "eth9")
    in_netns(container_pid, "ip", "-6", "addr", "add", "2001:db8:113::2/64", "dev", "eth9", "nodad")
    in_netns(container_pid, "ip", "link", "set", "eth9", "up")


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
    status, *what, took = proc.stdout.split()
    return status, " ".join(what), float(took)


def seen(log: Path) -> set[str]:
    return set(log.read_text().splitlines())


def test_allowed_destinations_answer_and_denied_ones_fail_at_once(store, container, internet) -> None:  # type: ignore[no-untyped-def]
    cid, _ = container(POLICY)
    log = internet[1]
    log.write_text("")
    assert probe(store, cid, "tcp", SERVER, 8080)[:2] == ("ok", "ok 8080")
    assert probe(store, cid, "tcp", SERVER6, 443)[:2] == ("ok", "ok 443")
    assert probe(store, cid, "udp", SERVER, 5353)[:2] == ("ok", "ok 5353")
    for proto, host, port in (("tcp", SERVER, 9090), ("tcp", SERVER, 443), ("tcp", SERVER6, 8080),
                              ("udp", SERVER, 5354), ("udp", SERVER6, 5353)):
        status, errno, took = probe(store, cid, proto, host, port)
        # Rejected by the container's own rules: a reset or an ICMP error, well inside the
        # probe's 5 s limit (a dropped packet would end in EAGAIN/ETIMEDOUT after it).
        assert status == "err" and errno in ("ECONNREFUSED", "EHOSTUNREACH", "EACCES", "EPERM"), (proto, host, port, errno)
        assert took < 1000, (proto, host, port, took)
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
