"""`hardbox pull`, `login` and `logout` against the real distribution registry on loopback:
plain HTTP, TLS + htpasswd, and token auth with a token issuer of the tests' own. Interop by
digest: skopeo pushes, hardbox pulls, and the config digest hardbox stores is the sha256 of
what `skopeo inspect --config --raw` reads."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.registry import (
    BUSYBOX,
    PASSWORD,
    USER,
    OciLayout,
    Registry,
    TokenIssuer,
    docker_config_credentials,
    hardbox,
    htpasswd,
    make_ca_and_server_cert,
    run,
    skopeo_push,
    start_registry,
)
from helpers.terminal import stderr_on_a_terminal

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.usefixtures("registry_client")]


def inspect(ref: str) -> dict[str, object]:
    done = hardbox("image", "inspect", "--json", ref)
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    return obj[0] if isinstance(obj, list) else obj  # type: ignore[no-any-return]


def skopeo_config_digest(ref: str, *flags: str) -> str:
    raw = subprocess.run(["skopeo", "inspect", *flags, "--config", "--raw", f"docker://{ref}"],
                         capture_output=True, check=True, timeout=60).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_pull_what_skopeo_pushed_same_digests(
        plain: Registry, busybox_layout: OciLayout, hardbox_root: Path) -> None:
    ref = plain.ref("team/bb:1")
    skopeo_push(f"oci:{busybox_layout.ref}", ref, "--dest-tls-verify=false")
    done = hardbox("pull", f"docker://{ref}", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress when stderr is not a terminal
    pulled = json.loads(done.stdout)[0]
    expected = skopeo_config_digest(ref, "--tls-verify=false")
    assert pulled["id"] == expected
    image = inspect(ref)
    assert image["id"] == expected
    manifest = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                               f"docker://{ref}"], capture_output=True, check=True).stdout
    assert pulled["digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    # The store can run it: the layer is unpacked with busybox in it.
    layer = hardbox_root / "layers" / image["layers"][0]["diff_id"][7:]  # type: ignore[index]
    assert (layer / "bin" / "busybox").is_file()

    # The same blobs under another repository: nothing downloaded again.
    other = plain.ref("elsewhere/copy:2")
    skopeo_push(f"oci:{busybox_layout.ref}", other, "--dest-tls-verify=false")
    blob_gets = plain.access_log().count("GET /v2/elsewhere/copy/blobs/")
    again = hardbox("pull", other)
    assert again.returncode == 0, again.stderr
    assert plain.access_log().count("GET /v2/elsewhere/copy/blobs/") == blob_gets  # none at all
    assert inspect(other)["id"] == expected
    # A second pull of an image the store has goes to the registry once: its manifest.
    requests = len(plain.access_log().splitlines())
    assert hardbox("pull", other).returncode == 0
    made = [line for line in plain.access_log().splitlines()[requests:] if "HTTP/1.1" in line]
    assert len(made) == 1 and '"GET /v2/elsewhere/copy/manifests/2 ' in made[0], made

    # Pull by digest pins that manifest and tags nothing new.
    pinned = hardbox("pull", "--json", f"{plain.host}/team/bb@{pulled['digest']}")
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads(pinned.stdout)[0]["digest"] == pulled["digest"]


def test_all_tags_and_missing_tag(plain: Registry, busybox_layout: OciLayout) -> None:
    for tag in ("a", "b"):
        skopeo_push(f"oci:{busybox_layout.ref}", plain.ref(f"multi/bb:{tag}"),
                    "--dest-tls-verify=false")
    done = hardbox("pull", "--all-tags", "--json", plain.ref("multi/bb"))
    assert done.returncode == 0, done.stderr
    assert sorted(p["reference"] for p in json.loads(done.stdout)) == [
        plain.ref("multi/bb:a"), plain.ref("multi/bb:b")]
    missing = hardbox("pull", plain.ref("multi/bb:nope"))
    assert missing.returncode == 2
    assert "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_tls_with_certs_d_ca_and_htpasswd_login(
        tmp_path: Path, busybox_layout: OciLayout) -> None:
    need_tool("docker-registry", "skopeo")
    ca, cert, key = make_ca_and_server_cert(tmp_path / "tls")
    auth = {"htpasswd": {"realm": "hardbox-test", "path": str(htpasswd(tmp_path / "htpasswd"))}}
    with start_registry(tmp_path / "reg", tls=(cert, key), auth=auth) as registry:
        certdir = tmp_path / "skopeo-certs"
        certdir.mkdir()
        (certdir / "ca.crt").write_bytes(ca.read_bytes())
        ref = registry.ref("secure/bb:1")
        skopeo_push(f"oci:{busybox_layout.ref}", ref, f"--dest-cert-dir={certdir}",
                    f"--dest-creds={USER}:{PASSWORD}")
        untrusted = hardbox("pull", ref)
        assert untrusted.returncode == 2 and "TLS" in untrusted.stderr
        hostdir = Path(os.environ["HARDBOX_CERTS_D"]) / registry.host
        hostdir.mkdir(parents=True)
        (hostdir / "ca.crt").write_bytes(ca.read_bytes())
        anonymous = hardbox("pull", ref)
        assert anonymous.returncode == 2 and "authentication required" in anonymous.stderr
        wrong = hardbox("login", registry.host, "-u", USER, "--password-stdin", stdin="nope\n")
        assert wrong.returncode == 2 and "refused" in wrong.stderr
        auth_file = Path(os.environ["REGISTRY_AUTH_FILE"])
        assert not auth_file.exists()
        good = hardbox("login", registry.host, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
        assert good.returncode == 0, good.stderr
        assert auth_file.stat().st_mode & 0o777 == 0o600
        assert registry.host in json.loads(auth_file.read_text())["auths"]
        pulled = hardbox("pull", "--json", ref)
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)[0]["id"] == skopeo_config_digest(
            ref, f"--cert-dir={certdir}", f"--creds={USER}:{PASSWORD}")
        assert hardbox("logout", registry.host).returncode == 0
        assert registry.host not in json.loads(auth_file.read_text())["auths"]
        assert hardbox("logout", registry.host).returncode == 2


def test_token_auth_with_a_real_bearer_flow(
        token_registry: tuple[Registry, TokenIssuer], busybox_layout: OciLayout) -> None:
    registry, issuer = token_registry
    ref = registry.ref("tok/bb:1")
    skopeo_push(f"oci:{busybox_layout.ref}", ref, "--dest-tls-verify=false",
                f"--dest-creds={USER}:{PASSWORD}")
    refused = hardbox("pull", ref)
    assert refused.returncode == 2 and "refused anonymous access" in refused.stderr
    # Credentials from Docker's config (the fallback) are used as Podman uses them.
    docker_config_credentials(registry.host)
    before = len(issuer.issued)
    done = hardbox("pull", "--json", ref)
    assert done.returncode == 0, done.stderr
    # One token for the repository's pull scope, reused for manifest, config and layer.
    assert issuer.issued[before:] == ["repository:tok/bb:pull"]
    assert json.loads(done.stdout)[0]["id"] == skopeo_config_digest(
        ref, "--tls-verify=false", f"--creds={USER}:{PASSWORD}")
    # login goes through the same token flow (a token for no scope, as docker login).
    bad = hardbox("login", registry.host, "-u", USER, "--password-stdin", stdin="wrong\n")
    assert bad.returncode == 2 and "refused the credentials" in bad.stderr
    good = hardbox("login", registry.host, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert good.returncode == 0, good.stderr
    assert registry.host in json.loads(Path(os.environ["REGISTRY_AUTH_FILE"]).read_text())["auths"]


def test_progress_on_a_terminal(plain: Registry, busybox_layout: OciLayout) -> None:
    """Per-layer bytes on stderr when it is a terminal (a pty here)."""
    ref = plain.ref("tty/bb:1")
    skopeo_push(f"oci:{busybox_layout.ref}", ref, "--dest-tls-verify=false")
    layer = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
        capture_output=True, check=True).stdout)["layers"][0]["digest"]
    status, seen = stderr_on_a_terminal("pull", ref)
    assert status == 0, seen
    assert layer[7:19].encode() in seen  # the layer's short digest with its byte counts
    assert b"\r\x1b[K" in seen


@pytest.fixture(scope="module")
def multi_platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout whose ref ``latest`` is an index of linux/amd64 and linux/arm64 images,
    each with /etc/arch naming its architecture (built by buildah, pushed --all)."""
    need_tool("buildah")
    if os.geteuid() != 0:
        pytest.skip("buildah with the vfs driver runs as root here")
    work = tmp_path_factory.mktemp("multiarch")
    buildah = ["buildah", "--storage-driver", "vfs", "--root", str(work / "root"),
               "--runroot", str(work / "run")]
    run([*buildah, "manifest", "create", "bblist"])
    for arch in ("amd64", "arm64"):
        marker = work / f"arch-{arch}"
        marker.write_text(f"{arch}\n")
        ctr = run([*buildah, "from", "--arch", arch, "scratch"]).stdout.split()[-1]
        run([*buildah, "copy", ctr, str(BUSYBOX), "/bin/busybox"])
        run([*buildah, "copy", ctr, str(marker), "/etc/arch"])
        run([*buildah, "config", "--arch", arch, "--os", "linux", ctr])
        image_id = run([*buildah, "commit", "-q", ctr, f"bb-{arch}"]).stdout.strip()
        run([*buildah, "manifest", "add", "bblist", image_id])
    layout = work / "layout"
    run([*buildah, "manifest", "push", "-q", "--all", "bblist", f"oci:{layout}:latest"])
    return layout


def test_multi_platform_index_pulls_the_right_platform(
        plain: Registry, multi_platform: Path, hardbox_root: Path) -> None:
    host_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine)
    if host_arch is None:
        pytest.skip(f"the index holds amd64 and arm64 only; this host is {os.uname().machine}")
    ref = plain.ref("multi/bb:1")
    skopeo_push(f"oci:{multi_platform}:latest", ref, "--all", "--dest-tls-verify=false")
    done = hardbox("pull", ref)
    assert done.returncode == 0, done.stderr
    assert inspect(ref)["config"]["architecture"] == host_arch  # type: ignore[index]
    other = "arm64" if host_arch == "amd64" else "amd64"
    done = hardbox("pull", "--platform", f"linux/{other}", "--json", ref)
    assert done.returncode == 0, done.stderr
    chosen = inspect(json.loads(done.stdout)[0]["id"])
    assert chosen["config"]["architecture"] == other  # type: ignore[index]
    layer = hardbox_root / "layers" / chosen["layers"][-1]["diff_id"][7:]  # type: ignore[index]
    assert (layer / "etc" / "arch").read_text() == f"{other}\n"
    expected = skopeo_config_digest(ref, "--tls-verify=false", f"--override-arch={other}")
    assert chosen["id"] == expected
    none = hardbox("pull", "--platform", "linux/s390x", ref)
    assert none.returncode == 2
    assert "no manifest for platform linux/s390x (offered: linux/amd64, linux/arm64)" in none.stderr


def test_short_name_is_docker_io_through_the_mirror(
        plain: Registry, busybox_layout: OciLayout, monkeypatch: pytest.MonkeyPatch) -> None:
    """`bbtest` is docker.io/library/bbtest, never a guess; the mirror serves docker.io."""
    skopeo_push(f"oci:{busybox_layout.ref}", plain.ref("library/bbtest:latest"),
                "--dest-tls-verify=false")
    monkeypatch.setenv("HARDBOX_REGISTRY_MIRROR", plain.host)
    done = hardbox("pull", "--json", "bbtest")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["reference"] == "docker.io/library/bbtest:latest"
    assert "GET /v2/library/bbtest/manifests/latest" in plain.access_log()
    assert inspect("bbtest")["id"] == json.loads(done.stdout)[0]["id"]
