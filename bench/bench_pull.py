"""Benchmark: pulling the Debian minbase image from a loopback registry into a ready-to-run
store, against `skopeo copy` + `umoci unpack` and against `podman pull`.

Builds the image the tests use (debootstrap minbase, cached; one layer, by umoci), starts
Debian's `docker-registry` on 127.0.0.1 (tests/helpers/registry.py) and pushes the image
there with skopeo. Then times, each a fresh process into a fresh target, ``--runs`` times
(median reported):

* ``skopeo copy docker://… oci:DIR`` followed by ``umoci unpack`` (the peer pair: download
  and verify, then unpack a runnable root filesystem);
* ``podman pull`` into a private storage root (overlay driver: the layer is unpacked once
  into podman's storage, ready to run);
* ``hardbox pull`` into an empty store (download, verify, unpack, publish);
* ``hardbox pull`` again into the store that has the image (nothing new), with the
  registry's access log counting the requests it made;

and, to show where hardbox's time goes, the parts on their own: the layer blob fetched
over loopback by ``curl`` (the transfer), ``hardbox image import`` of the same image from
an OCI layout (verify + unpack, no network), the second pull as a library call (no
interpreter start-up), the interpreter's start and the import of urllib3. Output: markdown
on stdout. Needs root (debootstrap, podman).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# common puts tests/ on the path: it comes first.
from common import Scratch, Timing, debian_layout, median, median_of, options, timed
from helpers.registry import skopeo_push, start_registry

REPO = "bench/debian:12"


def _podman_conf(work: Path) -> dict[str, str]:
    """The environment podman needs here: its own containers.conf and an empty auth file."""
    conf = work / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
    auth = work / "podman-auth.json"
    auth.write_text('{"auths": {}}')
    return dict(os.environ, CONTAINERS_CONF=str(conf), REGISTRY_AUTH_FILE=str(auth))


def _requests(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if '"GET ' in line
            or '"HEAD ' in line]


def _library_second_pull(root: Path, ref: str) -> float:
    """A pull of nothing new as a library call: the store's and the client's own cost."""
    from hardbox.image.registry import refs
    from hardbox.image.registry.client import connect
    from hardbox.image.registry.pull import pull
    from hardbox.image.store.store import Store

    parsed = refs.parse(ref)
    start = time.perf_counter()
    pull(Store.open(root), connect(parsed.domain), parsed)
    return time.perf_counter() - start


def _unmount_under(work: Path) -> None:
    """Unmount what podman's storage left mounted under ``work`` (deepest first)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh]
    for point in sorted((p for p in points if p.startswith(f"{work}/")), key=len, reverse=True):
        subprocess.run(["umount", point], check=False)


def main() -> None:
    args = options(__doc__)

    # podman refuses a run root path over 50 characters: keep the work dir short.
    work = Path(tempfile.mkdtemp(prefix="hb-bp-", dir=args.workdir or "/tmp"))
    try:
        image = debian_layout(work)
        scratch = Scratch(work)
        with start_registry(work / "reg") as reg:
            ref = reg.ref(REPO)
            skopeo_push(f"oci:{image.ref}", ref, "--dest-tls-verify=false")
            manifest = json.loads(subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
                capture_output=True, check=True).stdout)
            layer = manifest["layers"][0]
            blob_url = f"http://{reg.host}/v2/bench/debian/blobs/{layer['digest']}"

            # The peer pair, timed as one: both processes' wall and CPU added.
            def skopeo_umoci(i: int) -> Timing:
                oci = scratch.fresh(f"oci-{i}")
                copy = timed(["skopeo", "copy", "-q", "--src-tls-verify=false",
                              f"docker://{ref}", f"oci:{oci}:x"])
                unpack = timed(["umoci", "unpack", "--image", f"{oci}:x",
                                str(scratch.fresh(f"bundle-{i}"))])
                return Timing(copy.wall + unpack.wall, copy.cpu + unpack.cpu)

            peers = [skopeo_umoci(i) for i in range(args.runs)]
            peer = median(peers)
            podman_env = _podman_conf(work)

            def podman(i: int) -> tuple[list[str], dict[str, str]]:
                return (["podman", "--root", str(scratch.fresh(f"pr-{i}")), "--runroot",
                         str(scratch.fresh(f"rr-{i}")), "--storage-driver", "overlay", "pull", "-q",
                         "--tls-verify=false", ref], podman_env)

            podman_t = median_of(args.runs, podman)
            hardbox = [sys.executable, "-m", "hardbox", "pull", ref]
            first = median_of(args.runs, lambda i: (hardbox, scratch.store_env(scratch.fresh(f"hb-{i}"))))
            before = len(_requests(reg.log))
            again = median_of(args.runs, lambda i: (hardbox, scratch.store_env(work / "hb-0")))
            made = _requests(reg.log)[before:]
            library = statistics.median(_library_second_pull(work / "hb-0", ref)
                                        for _ in range(args.runs))
            transfer = median_of(args.runs, lambda i: (
                ["curl", "-s", "-o", "/dev/null", blob_url], None))
            interpreter = median_of(args.runs, lambda i: ([sys.executable, "-c", "pass"], None))
            http_layer = median_of(args.runs, lambda i: (
                [sys.executable, "-c", "import urllib3"], None))
            local = median_of(args.runs, lambda i: (
                [sys.executable, "-m", "hardbox", "image", "import", f"oci:{image.ref}"],
                scratch.store_env(scratch.fresh(f"imp-{i}"))))
            _unmount_under(work)  # podman's overlay driver may leave its home mounted

        print(f"Debian 12 minbase, one layer ({layer['size'] / 1e6:.0f} MB gzip blob), "
              f"loopback registry (docker-registry, plain HTTP), {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}, median of {args.runs} runs\n")
        print("| what | wall s | CPU s (user+sys) | wall vs skopeo+umoci | wall vs podman |")
        print("|---|---:|---:|---:|---:|")
        for what, t in (("skopeo copy + umoci unpack", peer), ("podman pull (overlay)", podman_t),
                        ("hardbox pull", first), ("hardbox pull again (nothing new)", again)):
            print(f"| {what} | {t.wall:.2f} | {t.cpu:.2f} | {t.wall / peer.wall:.2f} | "
                  f"{t.wall / podman_t.wall:.2f} |")
        print(f"| parts: curl of the layer blob (transfer only) | {transfer.wall:.2f} | "
              f"{transfer.cpu:.2f} | | |")
        print(f"| parts: hardbox image import of the OCI layout (no network) | {local.wall:.2f} "
              f"| {local.cpu:.2f} | | |")
        print(f"| parts: second pull as a library call | {library:.3f} | | | |")
        print(f"| parts: interpreter start (`python -c pass`) | {interpreter.wall:.2f} | "
              f"{interpreter.cpu:.2f} | | |")
        print(f"| parts: `python -c 'import urllib3'` | {http_layer.wall:.2f} | "
              f"{http_layer.cpu:.2f} | | |")
        per_run = len(made) / args.runs
        print(f"\nSecond pull: {per_run:.0f} requests per run to the registry: "
              + "; ".join(sorted({line.split('"')[1] for line in made})))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
