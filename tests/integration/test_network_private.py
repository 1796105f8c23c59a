"""``--network private`` for real: pasta uplink, DNS, /etc files, published ports, cleanup.

The test's "internet" is a network namespace it makes (``InternetNamespace``): a veth pair whose
outer end sits in the host's namespace with 198.51.100.1/24 and whose inner end holds
198.51.100.2 with a small TCP server and Debian's dnsmasq answering ``*.example.test``.
(TEST-NET-2, not TEST-NET-1: this host's own uplink is 192.0.2.0/24, and a second route
for it would change the host's routing for everyone.) The container reaches it the way it
would reach the world: through pasta and the host's routing. Everything else talks to the
host's loopback only; every pasta pid checked is one a container of this test started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import need_tool
from helpers.hbrun import RunStore, make_store

pytestmark = [pytest.mark.root, pytest.mark.network]

INET_HOST, INET_PEER = "198.51.100.1", "198.51.100.2"
WEB_PORT = 8000

UDP_ECHO = r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    for (;;) {
        char buf[512] = "udp-echo:"; struct sockaddr_in from; socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf + 9, sizeof buf - 10, 0, (struct sockaddr *)&from, &len);
        if (n > 0) sendto(s, buf, n + 9, 0, (struct sockaddr *)&from, len);
    }
}
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> imagebuild.OciImage:
    """busybox as root, EXPOSE 80/tcp and 53/udp (for -P)."""
    need_tool("umoci")
    img = imagebuild.busybox_image(tmp_path_factory.mktemp("netimg"), user="0")
    img.configure("--config.exposedports=80/tcp", "--config.exposedports=53/udp")
    return img


@pytest.fixture(scope="module")
def store(image: imagebuild.OciImage, tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    need_tool("pasta")
    return make_store(tmp_path_factory.mktemp("run-network") / "store", image.ref, tag="nettest")


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("gcc")
    dest = tmp_path_factory.mktemp("netprobes")
    (dest / "udpecho.c").write_text(UDP_ECHO)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(dest / "udpecho"), str(dest / "udpecho.c")], check=True)
    os.chmod(dest, 0o755)
    return dest


class InternetNamespace:
    """A network namespace at 198.51.100.2 behind a veth, with a TCP banner server and dnsmasq."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns, self.outer, self.inner = f"hbtest-inet-{tag}", f"hbti{tag}", f"hbtp{tag}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def ip(self, *args: str, ns: bool = False) -> None:
        cmd = ["ip", *(["-n", self.ns] if ns else []), *args]
        subprocess.run(cmd, check=True, capture_output=True)

    def __enter__(self) -> InternetNamespace:
        self.ip("netns", "add", self.ns)
        try:
            self.ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner, "netns", self.ns)
            self.ip("addr", "add", f"{INET_HOST}/24", "dev", self.outer)
            self.ip("link", "set", self.outer, "up")
            self.ip("addr", "add", f"{INET_PEER}/24", "dev", self.inner, ns=True)
            self.ip("link", "set", self.inner, "up", ns=True)
            self.ip("link", "set", "lo", "up", ns=True)
            server = (f"import socket\ns = socket.create_server(('{INET_PEER}', {WEB_PORT}))\nwhile True:\n"
                      "    c, _ = s.accept(); c.sendall(b'hello-from-internet\\n'); c.close()\n")
            self._spawn([sys.executable, "-c", server])
            self._spawn(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                         f"--listen-address={INET_PEER}", "--bind-interfaces", "--pid-file=",
                         f"--address=/example.test/{INET_PEER}", "--user=root"])
            self._wait_port(WEB_PORT)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _spawn(self, argv: list[str]) -> None:
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.ns, *argv],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _wait_port(self, port: int) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex((INET_PEER, port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the test internet's server did not come up")

    def __exit__(self, *_: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@pytest.fixture(scope="module")
def internet() -> Iterator[InternetNamespace]:
    need_tool("dnsmasq")
    need_tool("ip")
    with InternetNamespace() as net:
        yield net


class Canary:
    """A TCP server on the host's 127.0.0.1 that counts who reached it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.sendall(b"host-loopback-canary\n")
            conn.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.sock.close()


def gateway() -> str:
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == "00000000" and int(f[3], 16) & 2:
            return socket.inet_ntoa(int(f[2], 16).to_bytes(4, "little"))
    raise AssertionError("no default route")


def ps(store: RunStore) -> list[dict[str, object]]:
    proc = store.hardbox("ps", "-a", "--json")
    assert proc.returncode == 0, proc.stderr
    states: list[dict[str, object]] = json.loads(proc.stdout)
    return states


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def port_is_free(port: int) -> bool:
    """Nobody listens on 127.0.0.1:port (SO_REUSEADDR: closed connections in TIME_WAIT do
    not count, a listener does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_private_reaches_the_test_internet_by_name(store, internet):
    resolv_before = Path("/etc/resolv.conf").read_bytes()
    proc = store.hardbox(
        "run", "--rm", "--dns", INET_PEER, "--hostname", "web1", "--add-host", "db.internal:10.1.2.3",
        "--read-only", "nettest", "sh", "-c",
        "ip route | grep ^default; cat /etc/resolv.conf /etc/hosts /etc/hostname; "
        # Nothing sent: the server closes right after its greeting, and bytes of ours still
        # unread there would turn its close into a reset that can discard the greeting.
        f"nslookup www.example.test; timeout 5 nc www.example.test {WEB_PORT} </dev/null; "
        "echo x > /etc/hosts || echo hosts-read-only",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "default via" in out  # an uplink, not lo only
    assert f"nameserver {INET_PEER}" in out
    assert "10.1.2.3\tdb.internal" in out and "\tweb1" in out and "localhost" in out
    assert "web1\n" in out
    assert f"Address: {INET_PEER}" in out  # resolved by the test's dnsmasq, through pasta
    assert "hello-from-internet" in out  # the server behind the veth, reached by name
    assert "hosts-read-only" in out
    assert Path("/etc/resolv.conf").read_bytes() == resolv_before


def test_none_has_no_uplink(store, internet):
    proc = store.hardbox("run", "--rm", "--network", "none", "nettest", "sh", "-c",
                         f"ip route; timeout 5 nc -w 2 {INET_PEER} {WEB_PORT} </dev/null || echo unreachable")
    assert proc.returncode == 0, proc.stderr
    assert "default" not in proc.stdout and "hello-from-internet" not in proc.stdout
    assert "unreachable" in proc.stdout


def test_host_loopback_needs_host_gateway(store, canary):
    gw = gateway()
    # The gateway address, the container's own loopback, and the name --add-host gives.
    # (stdin /dev/null: a client that half-closes can lose the reply in the 2023 pasta's
    # loopback splice, docs/networking.md.)
    probe = (f"timeout 5 nc -w 2 {gw} {canary.port} </dev/null; timeout 5 nc 127.0.0.1 {canary.port} </dev/null; "
             f"grep hostgw /etc/hosts; timeout 5 nc hostgw {canary.port} </dev/null; true")
    proc = store.hardbox("run", "--rm", "nettest", "sh", "-c", probe)
    assert proc.returncode == 0, proc.stderr
    assert "host-loopback-canary" not in proc.stdout
    assert canary.hits == 0

    proc = store.hardbox("run", "--rm", "--add-host", "hostgw:host-gateway", "nettest", "sh", "-c", probe)
    assert proc.returncode == 0, proc.stderr
    assert "127.0.0.1\thostgw" in proc.stdout
    # Reached through the container's 127.0.0.1 (once per name), never through the gateway.
    assert proc.stdout.count("host-loopback-canary") == 2
    assert canary.hits == 2


def test_published_tcp_and_udp_until_stop(store, probes, internet):
    """TCP from the host's loopback; UDP from a client in the test internet, to the address
    the host has there. (A UDP client on the host's own loopback gets no reply through the
    2023 pasta: its spliced UDP path drops the answer, docs/networking.md.)"""
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    started = store.hardbox(
        "run", "-d", "--name", "pub", "-p", f"{tcp}:80", "-p", f"{INET_HOST}:{udp}:5353/udp",
        "-v", f"{probes}:/probes:ro", "nettest", "sh", "-c",
        "/probes/udpecho 5353 & mkdir /www; echo hello-published > /www/index.html; httpd -f -p 80 -h /www",
    )
    assert started.returncode == 0, started.stderr
    try:
        [state] = [s for s in ps(store) if s["name"] == "pub"]
        assert state["ports"] == [f"127.0.0.1:{tcp}->80/tcp", f"{INET_HOST}:{udp}->5353/udp"]
        pasta = int(state["uplink_pid"])  # type: ignore[call-overload]
        assert alive(pasta)
        listed = store.hardbox("ps").stdout
        assert f"127.0.0.1:{tcp}->80/tcp" in listed

        def fetch() -> bytes:
            with socket.create_connection(("127.0.0.1", tcp), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return c.makefile("rb").read()

        wait_for(lambda: b"hello-published" in _or_empty(fetch))
        client = ("import socket\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nu.settimeout(1)\n"
                  "for _ in range(10):  # the echo probe may still be starting\n"
                  f"    u.sendto(b'ping', ('{INET_HOST}', {udp}))\n"
                  "    try:\n        print(u.recv(100).decode()); break\n"
                  "    except TimeoutError:\n        continue\n")
        got = subprocess.run(["ip", "netns", "exec", internet.ns, sys.executable, "-c", client],
                             capture_output=True, text=True, timeout=30)
        assert got.stdout.strip() == "udp-echo:ping", got.stderr
        # Only 127.0.0.1: the port is not open on the host's other addresses.
        with socket.socket() as other:
            other.settimeout(2)
            assert other.connect_ex((gateway_source(), tcp)) != 0
    finally:
        assert store.hardbox("stop", "-t", "1", "pub").returncode == 0
    wait_for(lambda: not alive(pasta), 10)
    assert port_is_free(tcp)
    assert store.hardbox("rm", "pub").returncode == 0


def _or_empty(fn: Callable[[], bytes]) -> bytes:
    try:
        return fn()
    except OSError:
        return b""


def gateway_source() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((gateway(), 9))
        return str(s.getsockname()[0])


def test_publish_all_uses_free_loopback_ports(store):
    started = store.hardbox("run", "-d", "--name", "pall", "-P", "nettest", "sh", "-c",
                            "mkdir /www; echo hi-P > /www/index.html; httpd -f -p 80 -h /www")
    assert started.returncode == 0, started.stderr
    try:
        [state] = [s for s in ps(store) if s["name"] == "pall"]
        ports = state["ports"]
        assert isinstance(ports, list) and len(ports) == 2
        [tcp] = [p for p in ports if p.endswith("->80/tcp")]
        assert [p for p in ports if p.endswith("->53/udp")]
        assert tcp.startswith("127.0.0.1:")
        host_port = int(tcp.split(":")[1].split("-")[0])

        def fetch() -> bytes:
            with socket.create_connection(("127.0.0.1", host_port), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return c.makefile("rb").read()

        wait_for(lambda: b"hi-P" in _or_empty(fetch))
    finally:
        store.hardbox("rm", "-f", "pall")


def test_second_container_on_the_same_port_is_refused(store):
    port = free_port()
    first = store.hardbox("run", "-d", "--name", "dup1", "-p", f"{port}:80", "nettest", "sleep", "30")
    assert first.returncode == 0, first.stderr
    try:
        second = store.hardbox("run", "--rm", "-p", f"{port}:80", "nettest", "true")
        assert second.returncode == 125
        assert f"127.0.0.1:{port}/tcp is already in use" in second.stderr
        assert len(second.stderr.strip().splitlines()) <= 3  # a message and a hint, no traceback
        assert "Traceback" not in second.stderr
    finally:
        store.hardbox("rm", "-f", "dup1")
    assert not [s for s in ps(store) if s["name"] in ("dup1",)]


@pytest.mark.parametrize(("args", "named"), [
    (["-p", "70000:80"], "70000"),
    (["-p", "abc"], "abc"),
    (["-p", "8080:80/sctp"], "sctp"),
    (["-p", "1.2.3:8080:80"], "1.2.3"),
    (["--network", "bogus"], "bogus"),
    (["--add-host", "nocolon"], "nocolon"),
    (["--add-host", "x:not-an-ip"], "not-an-ip"),
    (["--dns", "resolver.example"], "resolver.example"),
    (["--profile", "strict", "-p", "8080:80"], "-p 8080:80"),
    (["--profile", "strict", "-P"], "-P"),
    (["--profile", "strict", "--add-host", "h:host-gateway"], "--add-host h:host-gateway"),
])
def test_bad_input_is_125_naming_the_value(store, args, named):
    proc = store.hardbox("run", "--rm", *args, "nettest", "true")
    assert proc.returncode == 125, proc.stderr
    assert named in proc.stderr
    assert "Traceback" not in proc.stderr


def test_explain_lists_published_ports(store):
    proc = store.hardbox("run", "--explain", "--json", "-p", "8080:80", "-p", "0.0.0.0:5353:53/udp",
                         "--add-host", "gw:host-gateway", "nettest")
    assert proc.returncode == 0, proc.stderr
    [step] = [s for s in json.loads(proc.stdout)["steps"] if s["step"] == "published ports"]
    assert "127.0.0.1:8080->80/tcp" in step["setting"] and "0.0.0.0:5353->53/udp" in step["setting"]
    assert "gw" in step["setting"]


def test_sigkill_of_hardbox_leaves_no_pasta_and_no_namespace(store):
    port = free_port()
    run = store.popen("run", "--name", "killed", "-p", f"{port}:80", "nettest", "sleep", "60",
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(s["name"] == "killed" and s["status"] == "running" and s["uplink_pid"]
                             for s in ps(store)))
        [state] = [s for s in ps(store) if s["name"] == "killed"]
        pasta, pid1 = int(state["uplink_pid"]), int(state["pid"])  # type: ignore[call-overload]
        netns = os.stat(f"/proc/{pid1}/ns/net").st_ino
        assert alive(pasta)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        wait_for(lambda: not alive(pasta) and not alive(pid1), 10)
        # No process of ours (pasta's helper, pasta, PID 1) holds the container's namespace.
        holders = []
        for p in (pasta, pid1):
            with contextlib.suppress(FileNotFoundError):
                holders += [p] if os.stat(f"/proc/{p}/ns/net").st_ino == netns else []
        assert holders == []
        assert port_is_free(port)
    finally:
        if run.poll() is None:
            run.kill()
        store.hardbox("rm", "-f", "killed")


def test_a_workload_that_dies_takes_its_uplink_along(store):
    port = free_port()
    started = store.hardbox("run", "-d", "--name", "crash", "-p", f"{port}:80", "nettest", "sh", "-c",
                            "sleep 1; exit 3")
    assert started.returncode == 0, started.stderr
    try:
        [state] = [s for s in ps(store) if s["name"] == "crash"]
        pasta = int(state["uplink_pid"])  # type: ignore[call-overload]
        wait_for(lambda: [s["status"] for s in ps(store) if s["name"] == "crash"] == ["exited"], 15)
        [state] = [s for s in ps(store) if s["name"] == "crash"]
        assert state["exit_code"] == 3
        wait_for(lambda: not alive(pasta), 10)
        assert port_is_free(port)
    finally:
        store.hardbox("rm", "-f", "crash")
