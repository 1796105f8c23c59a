"""A test "internet" for the network tests: a server in a network namespace of its own,
wired to a container's namespace by a veth pair, and a static probe that connects from
inside the container and says how it went.

The server namespace holds 203.0.113.1 and 2001:db8:113::1 (documentation ranges; not
192.0.2.0/24, which this host's own uplink, and so pasta's copy of it in a container, may
use). The veth is made inside the server's namespace with its peer sent straight into the
container's, so nothing of the host's own network is touched. Everything here needs root.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER = "203.0.113.1"
SERVER6 = "2001:db8:113::1"
CONTAINER = "203.0.113.2"
CONTAINER6 = "2001:db8:113::2"
TCP_PORTS = (8080, 9090, 443, 53)
UDP_PORTS = (5353, 5354, 53)

# The "internet": answers "ok PORT" on every TCP and UDP port above, IPv4 and IPv6, and logs
# each connection or datagram it gets, so the test can say what never arrived.
SERVER_PY = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
log = open(sys.argv[1], "a", buffering=1)
for port in (TCP_PORTS):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16); sel.register(s, selectors.EVENT_READ, ("tcp", port))
for port in (UDP_PORTS):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); sel.register(s, selectors.EVENT_READ, ("udp", port))
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        proto, port = key.data
        if proto == "tcp":
            conn, peer = key.fileobj.accept()
            log.write(f"tcp {port} {peer[0]}\n"); conn.sendall(b"ok %d\n" % port); conn.close()
        else:
            data, peer = key.fileobj.recvfrom(512)
            log.write(f"udp {port} {peer[0]}\n"); key.fileobj.sendto(b"ok %d\n" % port, peer)
""".replace("TCP_PORTS", ", ".join(map(str, TCP_PORTS))).replace("UDP_PORTS", ", ".join(map(str, UDP_PORTS)))

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




def build_tools(out: Path, *, with_nft: bool = False) -> Path:
    """``out`` (mode 0755, for a container root that is an unprivileged host uid) with the
    static ``probe``; with ``with_nft``, the host's nft, every library it loads and the loader,
    to run by path (``/tools/ld-linux-x86-64.so.2 --library-path /tools /tools/nft``)."""
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    (out / "probe.c").write_text(PROBE_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out / "probe"), str(out / "probe.c")], check=True)
    if with_nft:
        nft = shutil.which("nft") or "/usr/sbin/nft"
        shutil.copy2(nft, out / "nft")
        for line in subprocess.run(["ldd", nft], capture_output=True, text=True, check=True).stdout.splitlines():
            path = next((w for w in line.split() if w.startswith("/")), None)
            if path:
                shutil.copy2(path, out / Path(path).name)
    return out


@contextmanager
def internet(work: Path) -> Iterator[tuple[int, Path]]:
    """The server in a network namespace of its own: (its pid, its connection log)."""
    work.mkdir(parents=True, exist_ok=True)
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
    """A veth pair between the server's namespace (SERVER, SERVER6) and the container's
    (CONTAINER, CONTAINER6 on eth9), made inside the server's namespace."""
    peer = f"hb{container_pid}"[:15]
    in_netns(server_pid, "ip", "link", "add", peer, "type", "veth", "peer", "name", "eth9",
             "netns", f"/proc/{container_pid}/ns/net")
    in_netns(server_pid, "ip", "addr", "add", f"{SERVER}/24", "dev", peer)
    in_netns(server_pid, "ip", "-6", "addr", "add", f"{SERVER6}/64", "dev", peer, "nodad")
    in_netns(server_pid, "ip", "link", "set", peer, "up")
    in_netns(container_pid, "ip", "addr", "add", f"{CONTAINER}/24", "dev", "eth9")
    in_netns(container_pid, "ip", "-6", "addr", "add", f"{CONTAINER6}/64", "dev", "eth9", "nodad")
    in_netns(container_pid, "ip", "link", "set", "eth9", "up")


def seen(log: Path) -> set[str]:
    """What reached the server: "tcp PORT PEER" / "udp PORT PEER" lines."""
    return set(log.read_text().splitlines())


def parse_probe(stdout: str) -> tuple[str, str, float]:
    """The probe's line as ("ok", the server's reply, ms) or ("err", ERRNO, ms)."""
    status, *what, took = stdout.split()
    return status, " ".join(what), float(took)
