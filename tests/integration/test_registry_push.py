"""`hardbox push` against the real distribution registry on loopback (plain HTTP, and token
auth with the tests' own issuer). Interop by digest: hardbox pushes, skopeo and podman read
back the manifest digest hardbox printed and the config digest the store holds (and podman
runs it); a second push sends
no blob; a push to another repository of the same registry mounts instead of uploading."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.registry import (
    PASSWORD,
    USER,
    OciLayout,
    Registry,
    TokenIssuer,
    docker_config_credentials,
    hardbox,
)

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.usefixtures("registry_client")]


def imported(source: str, name: str) -> dict[str, object]:
    done = hardbox("image", "import", source, "--tag", name)
    assert done.returncode == 0, done.stderr
    shown = hardbox("image", "inspect", "--json", name)
    assert shown.returncode == 0, shown.stderr
    obj = json.loads(shown.stdout)
    return obj[0] if isinstance(obj, list) else obj  # type: ignore[no-any-return]


def pushed(*args: str) -> dict[str, list[str] | str]:
    done = hardbox("push", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def skopeo_manifest(ref: str, *flags: str) -> bytes:
    return subprocess.run(["skopeo", "inspect", "--tls-verify=false", *flags, "--raw",
                           f"docker://{ref}"], capture_output=True, check=True,
                          timeout=60).stdout


def skopeo_config_digest_via_copy(ref: str, dest: Path, *flags: str) -> str:
    """``skopeo copy docker://REF oci:DIR`` (which verifies every blob), then the config
    digest of the manifest it wrote."""
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", *flags,
                    f"docker://{ref}", f"oci:{dest}:x"], capture_output=True, check=True,
                   timeout=120)
    index = json.loads((dest / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((dest / "blobs" / "sha256" / manifest_digest[7:]).read_text())
    return str(manifest["config"]["digest"])


def test_push_then_skopeo_reads_the_same_digests(
        plain: Registry, busybox_layout: OciLayout, tmp_path: Path) -> None:
    ref = plain.ref("team/bb:1")
    image = imported(f"oci:{busybox_layout.ref}", ref)
    done = hardbox("push", ref)
    assert done.returncode == 0, done.stderr
    digest = done.stdout.strip()
    assert digest.startswith("sha256:")
    raw = skopeo_manifest(ref)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    assert json.loads(raw)["config"]["digest"] == image["id"]
    assert skopeo_config_digest_via_copy(ref, tmp_path / "copy") == image["id"]
    blobs = 1 + len(json.loads(raw)["layers"])
    # A second push finds every blob there (HEAD) and sends none.
    again = pushed(ref)
    assert again["digest"] == digest
    assert again["uploaded"] == [] and again["mounted"] == []
    assert len(again["existing"]) == blobs


def test_push_to_another_repository_mounts(
        plain: Registry, busybox_layout: OciLayout, tmp_path: Path) -> None:
    first = plain.ref("team/bb:1")
    imported(f"oci:{busybox_layout.ref}", first)
    one = pushed(first)
    assert len(one["uploaded"]) >= 2 and one["mounted"] == []
    other = plain.ref("other/bb:2")
    two = pushed(first, f"docker://{other}")
    # The store knows team/bb holds these blobs: each is mounted, none uploaded.
    assert sorted(two["mounted"]) == sorted(one["uploaded"])
    assert two["uploaded"] == [] and two["existing"] == []
    assert two["digest"] == one["digest"]
    assert "sha256:" + hashlib.sha256(skopeo_manifest(other)).hexdigest() == two["digest"]
    # The registry's own log shows the mount requests, and no upload into other/bb.
    log = plain.access_log()
    mounts = [line for line in log.splitlines()
              if '"POST /v2/other/bb/blobs/uploads/?mount=sha256' in line
              and "from=team%2Fbb" in line and '" 201 ' in line]
    assert len(mounts) == len(two["mounted"])
    assert "PATCH /v2/other/bb/" not in log and "PUT /v2/other/bb/blobs/" not in log


def test_push_a_docker_archive_image_with_plain_tar_layers(
        plain: Registry, busybox_archive: Path, tmp_path: Path) -> None:
    ref = plain.ref("arch/bb:1")
    image = imported(f"docker-archive:{busybox_archive}", ref)
    digest = pushed(ref)["digest"]
    manifest = json.loads(skopeo_manifest(ref))
    assert "sha256:" + hashlib.sha256(skopeo_manifest(ref)).hexdigest() == digest
    # skopeo verifies every blob against the manifest's digests and media types as it copies.
    assert skopeo_config_digest_via_copy(ref, tmp_path / "copy") == image["id"]
    assert manifest["layers"]


def test_chunked_upload_of_a_large_blob(plain: Registry, busybox_layout: OciLayout,
                                        tmp_path: Path) -> None:
    """A layer bigger than the chunk size goes up in PATCH chunks; skopeo reads it back."""
    from hardbox.image.registry import refs
    from hardbox.image.registry.client import RegistryClient
    from hardbox.image.registry.push import push
    from hardbox.image.store.store import Store
    from hardbox.net import Session

    ref = plain.ref("chunks/bb:1")
    image = imported(f"oci:{busybox_layout.ref}", ref)
    store = Store.open()
    dest = refs.parse(ref)
    seen: list[tuple[str, int, int]] = []
    result = push(store, RegistryClient(dest.domain, Session()), store.get(ref), dest,
                  progress=lambda d, n, t: seen.append((d, n, t)), chunk=64 << 10)
    big = [d for d, n, t in seen if n < t]  # an intermediate report: a blob sent in chunks
    assert big, "the busybox layer is over 64 KiB and should have gone up in chunks"
    assert "PATCH /v2/chunks/bb/blobs/uploads/" in plain.access_log()
    assert result.digest == "sha256:" + hashlib.sha256(skopeo_manifest(ref)).hexdigest()
    assert skopeo_config_digest_via_copy(ref, tmp_path / "copy") == image["id"]


def test_push_with_token_auth_and_a_cross_repository_mount(
        token_registry: tuple[Registry, TokenIssuer], busybox_layout: OciLayout) -> None:
    registry, issuer = token_registry
    first = registry.ref("tok/a:1")
    imported(f"oci:{busybox_layout.ref}", first)
    refused = hardbox("push", first)
    assert refused.returncode == 2 and "refused anonymous access" in refused.stderr
    docker_config_credentials(registry.host)
    one = pushed(first)
    assert one["uploaded"]
    assert "repository:tok/a:pull,push" in issuer.issued
    two = pushed(first, registry.ref("tok/b:1"))
    assert sorted(two["mounted"]) == sorted(one["uploaded"]) and two["uploaded"] == []
    # The mount's token names pull on the source repository as well.
    # The mount's challenge names two scopes; each went to the issuer as its own
    # `scope` parameter (the issuer joins them with ","), so one token grants both.
    assert any("repository:tok/a:pull" in s and "repository:tok/b:" in s and "push" in s
               for s in issuer.issued)
    raw = skopeo_manifest(registry.ref("tok/b:1"), f"--creds={USER}:{PASSWORD}")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == two["digest"]


def test_push_refuses_an_image_without_a_name_to_push_to(
        plain: Registry, busybox_layout: OciLayout) -> None:
    image = imported(f"oci:{busybox_layout.ref}", plain.ref("team/bb:1"))
    done = hardbox("push", str(image["id"]))
    assert done.returncode != 0 and "give DEST" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_a_token_push_costs_one_challenge(
        token_registry: tuple[Registry, TokenIssuer], busybox_layout: OciLayout) -> None:
    """A cached token whose scopes cover a request's is reused: a whole push asks the token
    service once per scope set and meets the registry's 401 once, on its first request,
    not once per blob (the token for `pull` from a HEAD's challenge is asked for with the
    `push` the push will need)."""
    registry, issuer = token_registry
    docker_config_credentials(registry.host)
    first = registry.ref("tok/a:1")
    imported(f"oci:{busybox_layout.ref}", first)

    def challenges() -> int:
        return sum(1 for line in registry.access_log().splitlines() if '" 401 ' in line)

    def requests() -> int:
        return sum(1 for line in registry.access_log().splitlines()
                   if "HTTP/1.1\" " in line)

    one = pushed(first)
    assert one["uploaded"]
    assert (challenges(), len(issuer.issued)) == (1, 1), issuer.issued
    # Again: every blob exists (HEAD). One 401, one token, and one request per blob
    # plus the manifest and the challenged first request repeated (the loopback
    # registry's scheme is found by a TLS hello it answers in plain HTTP: no request).
    before = requests()
    again = pushed(first)
    assert len(again["existing"]) == len(one["uploaded"])
    assert (challenges(), len(issuer.issued)) == (2, 2), issuer.issued
    assert requests() - before == len(again["existing"]) + 1 + 1
    # A mount into another repository: one token more (pull on the source too), asked
    # before the request, so still no 401 beyond the first.
    two = pushed(first, registry.ref("tok/b:1"))
    assert two["mounted"]
    assert challenges() == 3 and len(issuer.issued) == 4, issuer.issued


def test_push_then_podman_pulls_and_runs_the_same_digests(
        plain: Registry, busybox_layout: OciLayout, tmp_path: Path) -> None:
    """Debian's podman (4.3) pulls what hardbox pushed: the same manifest digest and image
    id (config digest), and runs it. Its storage, run root, temporary files and config are
    the test's own, so the host's podman storage is never touched; the containers.conf sets
    rlimits podman's runc can apply here (it fails on the defaults in this sandbox)."""
    need_tool("podman")
    if os.geteuid() != 0:
        pytest.skip("podman with a private storage root runs as root here")
    ref = plain.ref("team/bb:1")
    image = imported(f"oci:{busybox_layout.ref}", ref)
    digest = pushed(ref)["digest"]
    conf = tmp_path / "containers.conf"
    scratch = tmp_path / "podman-tmp"
    scratch.mkdir()
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    f'[engine]\nimage_copy_tmp_dir = "{scratch}"\nevents_logger = "file"\n'
                    'cgroup_manager = "cgroupfs"\n')
    auth = tmp_path / "podman-auth.json"  # podman refuses a named auth file that is missing
    auth.write_text('{"auths": {}}')
    env = {**os.environ, "CONTAINERS_CONF": str(conf), "TMPDIR": str(scratch),
           "REGISTRY_AUTH_FILE": str(auth)}
    # podman refuses a run root path over 50 characters: a short private one in /tmp.
    with tempfile.TemporaryDirectory(prefix="hb-podman-") as runroot:
        podman = ["podman", "--root", str(tmp_path / "storage"), "--runroot", runroot,
                  "--storage-driver", "vfs", "--tmpdir", str(tmp_path / "libpod-tmp")]

        def call(*args: str) -> str:
            done = subprocess.run([*podman, *args], capture_output=True, text=True, env=env,
                                  timeout=180)
            assert done.returncode == 0, done.stderr
            return done.stdout

        call("pull", "-q", "--tls-verify=false", ref)
        shown = json.loads(call("image", "inspect", ref))[0]
        assert shown["Digest"] == digest
        assert f"sha256:{shown['Id']}" == image["id"]
        assert call("run", "--rm", "--network=none", ref, "/bin/echo", "from podman").strip() \
            == "from podman"
