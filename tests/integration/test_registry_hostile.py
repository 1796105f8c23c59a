"""`hardbox pull` from a hostile registry (a small HTTP server in the test that serves the
blobs of a real busybox image, damaged one way per test): each pull fails with exit 2, one
line, and nothing stored — or, for a broken connection that the server lets resume, pulls
the right image with a Range request."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.httpserver import Req, dribble, send, send_truncated, serve
from helpers.registry import OciLayout

pytestmark = [pytest.mark.network, pytest.mark.usefixtures("registry_client")]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Image:
    """A real image's manifest, config and layer blobs, read from an OCI layout."""

    def __init__(self, layout: Path) -> None:
        blobs = layout / "blobs" / "sha256"
        top = json.loads((layout / "index.json").read_text())["manifests"][0]
        self.manifest = (blobs / top["digest"][7:]).read_bytes()
        self.blobs = {f"sha256:{p.name}": p.read_bytes() for p in blobs.iterdir()}
        doc = json.loads(self.manifest)
        self.config_digest = doc["config"]["digest"]
        self.layer_digest = doc["layers"][0]["digest"]

    def with_layer(self, layer: bytes) -> Image:
        """The same image with ``layer`` as its (only) layer blob, manifest rewritten."""
        copy = object.__new__(Image)
        doc = json.loads(self.manifest)
        doc["layers"][0].update(digest=sha(layer), size=len(layer))
        copy.manifest = json.dumps(doc).encode()
        copy.blobs = {**self.blobs, sha(layer): layer}
        copy.config_digest, copy.layer_digest = self.config_digest, sha(layer)
        return copy


Handler = Callable[[Req], bool]  # returns True when it answered the request


@contextmanager
def registry(image: Image, special: Handler | None = None) -> Iterator[tuple[str, list[str]]]:
    """Serve ``image`` as ``hostile/bb:1``; ``special`` sees every request first. Yields the
    registry's host (``127.0.0.1:PORT``) and the log of the requests it was sent."""
    log: list[str] = []

    def handle(req: Req) -> None:
        log.append(f"{req.command} {req.path} range={req.headers.get('Range')}")
        if special is not None and special(req):
            return
        if req.path == "/v2/":
            send(req, 200, b"{}")
        elif req.path.startswith("/v2/hostile/bb/manifests/"):
            send(req, 200, image.manifest, {"Content-Type": OCI_MANIFEST})
        elif req.path.startswith("/v2/hostile/bb/blobs/"):
            blob = image.blobs.get(req.path.rsplit("/", 1)[1])
            send(req, 200, blob) if blob is not None else send(req, 404)
        else:
            send(req, 404)

    with serve(handle) as base:
        yield base.removeprefix("http://"), log


@pytest.fixture(scope="module")
def image(busybox_layout: OciLayout) -> Image:
    return Image(busybox_layout.layout)


def pull(host: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardbox", "pull", *extra, f"{host}/hostile/bb:1"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def refused(done: subprocess.CompletedProcess[str], root: Path, message: str) -> None:
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") <= 2  # one line and its hint
    stored = [p for sub in ("blobs", "layers", "images") if (root / sub).exists()
              for p in (root / sub).rglob("*") if p.is_file()]
    assert stored == []
    tags = root / "tags.json"
    assert not tags.exists() or json.loads(tags.read_text()) == {}
    assert not any((root / "tmp").iterdir()) if (root / "tmp").exists() else True


def test_the_hostile_server_serves_a_good_image_when_left_alone(image: Image, hardbox_root: Path) -> None:
    with registry(image) as (host, _):
        done = pull(host, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["id"] == image.config_digest


def test_wrong_layer_digest(image: Image, hardbox_root: Path) -> None:
    blob = bytearray(image.blobs[image.layer_digest])
    blob[len(blob) // 2] ^= 0xFF
    damaged = {**image.blobs, image.layer_digest: bytes(blob)}

    def handle(req: Req) -> bool:
        if req.path.endswith(image.layer_digest):
            send(req, 200, damaged[image.layer_digest])
            return True
        return False

    with registry(image, handle) as (host, _):
        refused(pull(host), hardbox_root, "digest mismatch")
    assert not any((hardbox_root / "partial-blobs").iterdir())  # never resumed from


def test_wrong_manifest_digest_header(image: Image, hardbox_root: Path) -> None:
    def handle(req: Req) -> bool:
        if "/manifests/" in req.path:
            send(req, 200, image.manifest, {"Content-Type": OCI_MANIFEST,
                                            "Docker-Content-Digest": sha(b"other")})
            return True
        return False

    with registry(image, handle) as (host, _):
        refused(pull(host), hardbox_root, "digest mismatch")


def test_truncated_blob_every_time(image: Image, hardbox_root: Path) -> None:
    blob = image.blobs[image.layer_digest]

    def handle(req: Req) -> bool:
        if req.path.endswith(image.layer_digest):
            send_truncated(req, blob, len(blob) // 3)
            return True
        return False

    with registry(image, handle) as (host, log):
        refused(pull(host), hardbox_root, "download failed")
    assert sum(image.layer_digest in line for line in log) == 4  # the first try + 3 resumes


def test_broken_download_resumes_with_range(image: Image, hardbox_root: Path) -> None:
    blob = image.blobs[image.layer_digest]
    tries: list[str | None] = []

    def handle(req: Req) -> bool:
        if not req.path.endswith(image.layer_digest):
            return False
        tries.append(req.headers.get("Range"))
        if len(tries) == 1:
            send_truncated(req, blob, 1000)
            return True
        start = int(req.headers["Range"].removeprefix("bytes=").rstrip("-"))
        send(req, 206, blob[start:],
             {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
        return True

    with registry(image, handle) as (host, _):
        done = pull(host, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["id"] == image.config_digest
    assert tries == [None, "bytes=1000-"]


def test_fifty_mib_manifest(image: Image, hardbox_root: Path) -> None:
    def handle(req: Req) -> bool:
        if "/manifests/" in req.path:
            req.send_response(200)
            req.send_header("Content-Type", OCI_MANIFEST)
            req.send_header("Connection", "close")  # no length: the body runs to the close
            req.end_headers()
            try:
                for _ in range(50):
                    req.wfile.write(b" " * (1 << 20))
            except OSError:
                pass  # the client stopped reading at the limit
            req.close_connection = True
            return True
        return False

    with registry(image, handle) as (host, _):
        refused(pull(host), hardbox_root, "4 MiB limit")


def test_redirect_never_carries_credentials_to_another_host(
        image: Image, hardbox_root: Path, tmp_path: Path) -> None:
    seen: list[str | None] = []
    good = "Basic " + base64.b64encode(b"alice:wonderland").decode()
    auth_file = Path(os.environ["REGISTRY_AUTH_FILE"])
    auth_file.parent.mkdir(parents=True, exist_ok=True)
    auth_file.write_text(json.dumps({"auths": {}}))

    def storage(req: Req) -> bool:
        seen.append(req.headers.get("Authorization"))
        send(req, 401, b"", {"WWW-Authenticate": 'Basic realm="storage"'})
        return True

    with registry(image, storage) as (other, _):
        def origin(req: Req) -> bool:
            if req.headers.get("Authorization") != good:
                send(req, 401, b"", {"WWW-Authenticate": 'Basic realm="hostile"'})
                return True
            if req.path.endswith(image.layer_digest):
                send(req, 307, b"", {"Location": f"http://{other}/storage/blob"})
                return True
            return False

        with registry(image, origin) as (host, _):
            auth_file.write_text(json.dumps(
                {"auths": {host: {"auth": base64.b64encode(b"alice:wonderland").decode()}}}))
            refused(pull(host), hardbox_root, "only ever sent to the registry itself")
    assert seen and all(value is None for value in seen)


def test_endless_401_loop(image: Image, hardbox_root: Path) -> None:
    def handle(req: Req) -> bool:
        if req.path.startswith("/token"):
            send(req, 200, json.dumps({"token": "t0ken", "expires_in": 300}).encode())
        else:
            realm = f"http://{req.headers['Host']}/token"
            send(req, 401, b"", {"WWW-Authenticate":
                                 f'Bearer realm="{realm}",service="x",scope="repository:hostile/bb:pull"'})
        return True

    with registry(image, handle) as (host, log):
        refused(pull(host), hardbox_root, "HTTP 401 after authenticating")
    assert len(log) < 10


def pax_bomb(size: int = 200 << 20) -> bytes:
    """A gzip layer of a few hundred KB whose tar declares a 200 MiB PAX header: the
    import's header limit (1 MiB) must stop it long before it is read."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = size
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(info.tobuf(tarfile.USTAR_FORMAT))
        zeros = b"0" * (1 << 20)
        for _ in range(size >> 20):
            gz.write(zeros)
    return out.getvalue()


def test_gzip_bomb_layer(image: Image, hardbox_root: Path) -> None:
    bomb = image.with_layer(pax_bomb())
    assert len(bomb.blobs[bomb.layer_digest]) < 1 << 20
    with registry(bomb) as (host, _):
        refused(pull(host), hardbox_root, bomb.layer_digest)


def test_slow_loris_blob(image: Image, hardbox_root: Path) -> None:
    blob = image.blobs[image.layer_digest]

    def handle(req: Req) -> bool:
        if req.path.endswith(image.layer_digest):
            dribble(req, blob, chunk=64, pause=0.3)  # under the read timeout, never done in time
            return True
        return False

    # Refused by the deadline (2 s plus the blob's size at 128 KiB/s: about 10 s for this
    # layer), which the message names; the read timeout alone never fires.
    with registry(image, handle) as (host, _):
        refused(pull(host, HARDBOX_NET_TIMEOUT="1", HARDBOX_NET_DEADLINE="2"),
                hardbox_root, "deadline")


@pytest.mark.parametrize(("doc", "message"), [
    ({"schemaVersion": 1, "name": "hostile/bb", "tag": "1", "fsLayers": []}, "schema 1"),
    ({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
      "config": {"mediaType": "application/vnd.dev.cosign.artifact.sig.v1+json",
                 "digest": sha(b"{}"), "size": 2}, "layers": []}, "artifact"),
])
def test_refused_manifest_kinds(image: Image, hardbox_root: Path, doc: dict[str, object],
                                message: str) -> None:
    data = json.dumps(doc).encode()

    def handle(req: Req) -> bool:
        if "/manifests/" in req.path:
            send(req, 200, data, {"Content-Type": "application/json"})
            return True
        return False

    with registry(image, handle) as (host, _):
        refused(pull(host), hardbox_root, message)


def pull_dies_half_way(image: Image, hardbox_root: Path, tries: list[str | None]) -> None:
    """A pull whose layer download stalls after half the bytes and dies on its deadline
    (exit 2, nothing stored); ``tries`` collects each layer request's Range header."""
    blob = image.blobs[image.layer_digest]

    def stall(req: Req) -> bool:
        if not req.path.endswith(image.layer_digest):
            return False
        tries.append(req.headers.get("Range"))
        req.send_response(200)
        req.send_header("Content-Length", str(len(blob)))
        req.end_headers()
        req.wfile.write(blob[: len(blob) // 2])
        req.wfile.flush()
        time.sleep(4)
        return True

    with registry(image, stall) as (host, _):
        refused(pull(host, HARDBOX_NET_TIMEOUT="1", HARDBOX_NET_DEADLINE="2"),
                hardbox_root, "download failed after")


def test_interrupted_pull_resumes_next_time(image: Image, hardbox_root: Path) -> None:
    """The first pull dies on its deadline half-way through the layer; the second asks only
    for the rest (Range) and stores the right image."""
    blob = image.blobs[image.layer_digest]
    half = len(blob) // 2
    tries: list[str | None] = []
    pull_dies_half_way(image, hardbox_root, tries)

    def ranged(req: Req) -> bool:
        if not req.path.endswith(image.layer_digest):
            return False
        tries.append(req.headers.get("Range"))
        start = int(req.headers["Range"].removeprefix("bytes=").rstrip("-"))
        send(req, 206, blob[start:], {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
        return True

    with registry(image, ranged) as (host, _):
        done = pull(host, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["id"] == image.config_digest
    assert tries == [None, f"bytes={half}-"]
    assert not any((hardbox_root / "partial-blobs").iterdir())


def test_prune_removes_what_an_interrupted_pull_left(image: Image, hardbox_root: Path) -> None:
    """A pull that dies half-way keeps its layer download in partial-blobs/ (to resume);
    `image prune` removes it and says so, and the next pull starts that blob afresh."""
    blob = image.blobs[image.layer_digest]
    pull_dies_half_way(image, hardbox_root, [])
    parts = list((hardbox_root / "partial-blobs").iterdir())
    assert [p.name for p in parts] == [f"{image.layer_digest[7:]}.part"]
    kept = parts[0].stat().st_size
    assert 0 < kept < len(blob)
    pruned = subprocess.run([sys.executable, "-m", "hardbox", "image", "prune"],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert pruned.returncode == 0, pruned.stderr
    assert "Removed 1 interrupted layer downloads" in pruned.stdout
    assert list((hardbox_root / "partial-blobs").iterdir()) == []
    with registry(image) as (host, log):
        done = pull(host, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["id"] == image.config_digest
    assert f"GET /v2/hostile/bb/blobs/{image.layer_digest} range=None" in log
