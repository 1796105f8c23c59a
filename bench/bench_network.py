"""`--network private -p`: start-to-exit and TCP throughput, hardbox against `podman run`.

hardbox (installed in a fresh venv, bench/startup.py) runs with its pasta uplink; Podman
4.3 (Debian 12) predates pasta support and uses slirp4netns with its own port handler.
Both run the same busybox image with iperf3 added (Debian's binary and the libraries it
links), publish the same port on 127.0.0.1 (hardbox's default; Podman is given the address,
since without one it binds every interface), and run as root. Podman gets a private
storage root and run root in a temporary directory, and a containers.conf there (pointed
at by CONTAINERS_CONF) setting default_ulimits, since its default nofile limit is above
what this host allows a container.

1. Start-to-exit of `true` with `--network private -p 127.0.0.1:PORT:80` (podman:
   `--network slirp4netns -p 127.0.0.1:PORT:80`). Goal (issue 13): <= 0.7x podman. A third
   row, hardbox with `--network none`, shows what the uplink itself costs.
2. TCP throughput host -> published port: `iperf3 -s` in a detached container, `iperf3 -c`
   on the host against 127.0.0.1:PORT, 5 seconds. Goal: >= 1.0x podman's.

Needs root, podman, slirp4netns, pasta, iperf3, umoci.

    python bench/bench_network.py [--rounds 10] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import startup  # (install, timer and table: shared with bench_run.py)
from helpers import imagebuild  # (startup puts tests/ on the path)

NET_IMAGE = "hardbox-bench-net"
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_iperf3(rootfs: Path) -> None:
    """Debian's iperf3 and every library ldd says it loads, at the same paths."""
    binary = Path(shutil.which("iperf3") or "/usr/bin/iperf3")
    wanted = [binary]
    for line in subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout.splitlines():
        path = next((w for w in line.split() if w.startswith("/")), None)
        if path:
            wanted.append(Path(path))
    for src in wanted:
        dest = rootfs / str(src).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src.resolve(), dest)


def iperf(port: int, seconds: int) -> float:
    """Received bits per second of one iperf3 run against 127.0.0.1:port."""
    for _ in range(50):  # the server in the container may still be starting
        proc = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"],
                              capture_output=True, text=True, timeout=seconds + 30)
        if proc.returncode == 0:
            return float(json.loads(proc.stdout)["end"]["sum_received"]["bits_per_second"])
        time.sleep(0.2)
    raise SystemExit(f"iperf3 against 127.0.0.1:{port} failed: {proc.stdout[-300:]} {proc.stderr[-300:]}")


def _unmount_under(path: Path) -> None:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh]
    for point in sorted((p for p in points if p.startswith(f"{path}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root")
    for tool in ("podman", "slirp4netns", "pasta", "iperf3", "umoci"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    with tempfile.TemporaryDirectory(prefix="hardbox-bench-net-") as tmp:
        work = Path(tmp)
        setup = startup.install(work)
        image = imagebuild.busybox_image(work / "netimg", user="0")
        image.add_layer(add_iperf3, "COPY iperf3 and its libraries")
        subprocess.run([*setup.hardbox, "image", "import", image.ref, "--tag", NET_IMAGE], env=setup.env,
                       check=True, stdout=subprocess.DEVNULL)
        (work / "containers.conf").write_text(CONTAINERS_CONF)
        env = dict(setup.env, CONTAINERS_CONF=str(work / "containers.conf"))
        podman = ["podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run")]
        pulled = subprocess.run([*podman, "pull", "-q", f"oci:{image.ref}"], env=env, check=True,
                                capture_output=True, text=True).stdout.split()[-1]
        port = free_port()
        commands: dict[str, startup.Command] = {
            "`hardbox run --rm --network private -p PORT:80 ... true`":
                [*setup.hardbox, "run", "--rm", "--network", "private", "-p", f"{port}:80", NET_IMAGE, "true"],
            "`podman run --rm --network slirp4netns -p 127.0.0.1:PORT:80 ... true`":
                [*podman, "run", "--rm", "--network", "slirp4netns", "-p", f"127.0.0.1:{port}:80", pulled, "true"],
            # What the uplink costs: the same run without it.
            "`hardbox run --rm --network none ... true`":
                [*setup.hardbox, "run", "--rm", "--network", "none", NET_IMAGE, "true"],
        }
        report = startup.measure(commands, env, args.rounds, warmup=2)
        throughput = {}
        for name, start, stop in (
            ("hardbox (pasta)",
             [*setup.hardbox, "run", "-d", "--name", "iperf-bench", "-p", f"{port}:5201", NET_IMAGE, "iperf3", "-s"],
             [*setup.hardbox, "rm", "-f", "iperf-bench"]),
            ("podman (slirp4netns)",
             [*podman, "run", "-d", "--name", "iperf-bench", "--network", "slirp4netns", "-p",
              f"127.0.0.1:{port}:5201", pulled, "iperf3", "-s"],
             [*podman, "rm", "-f", "iperf-bench"]),
        ):
            subprocess.run(start, env=env, check=True, stdout=subprocess.DEVNULL)
            try:
                throughput[name] = iperf(port, args.seconds)
            finally:
                subprocess.run(stop, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([*podman, "rmi", "-a", "-f"], env=env, capture_output=True)
        _unmount_under(work)  # the overlay driver's own mount of its storage
    report["throughput_bits_per_second"] = throughput
    report["load_average_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    startup.print_report("Start-to-exit with a published port", report, False)
    hb, pd = throughput.values()
    print(f"\nTCP throughput host -> published port, iperf3 {args.seconds} s:\n")
    print("| engine | Gbit/s |\n|---|---:|")
    for name, bps in throughput.items():
        print(f"| {name} | {bps / 1e9:.2f} |")
    print(f"\nhardbox / podman throughput: {hb / pd:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
