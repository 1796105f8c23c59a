"""Every image-taking command reads a registry image (`docker://REF`, or a bare REF the store
lacks), against the real distribution registry on loopback, with Podman's `--pull` policy.

`scan`, `sbom` and `gate` pull into a temporary store: the user's store — its listing and
every file under it — is the same afterwards, and nothing is left in $TMPDIR, whether the
pull succeeded or broke half-way. `run`, `bundle`, `image inspect` and `minimize` pull into
the store, as `podman run` does; `minimize --push` pushes the verified result."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.registry import (
    OciLayout,
    Registry,
    hardbox,
    skopeo_push,
    start_registry,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = "team/bb:1"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, busybox_layout: OciLayout,
             ) -> Iterator[Registry]:
    """One registry for the module, holding the busybox image as team/bb:1 (skopeo put it
    there, so hardbox's reading is checked against another tool's writing)."""
    need_tool("docker-registry", "skopeo")
    with start_registry(tmp_path_factory.mktemp("reg")) as reg:
        skopeo_push(f"oci:{busybox_layout.ref}", reg.ref(REPO), "--dest-tls-verify=false")
        yield reg


@pytest.fixture(autouse=True)
def isolated(registry_client: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARDBOX_PULL", "missing")  # the suite's default is never (conftest)
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    return scratch


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry under ``root``: its mode and, for a file, the sha256 of its content."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() \
            and not path.is_symlink() else ""
        found[str(path.relative_to(root))] = (st.st_mode, digest)
    return found


def listing() -> str:
    done = hardbox("image", "ls", "--json")
    assert done.returncode == 0, done.stderr
    return done.stdout


def registry_config_digest(reg: Registry, ref: str) -> str:
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--config", "--raw",
                          f"docker://{reg.ref(ref)}"], capture_output=True, check=True,
                         timeout=60).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def manifest_gets(reg: Registry, repo: str) -> int:
    return sum(1 for line in reg.access_log().splitlines()
               if f'"GET /v2/{repo}/manifests/' in line and '" 200 ' in line)


@pytest.fixture
def store_with_an_image(busybox_layout: OciLayout, hardbox_root: Path) -> Path:
    """A store that is not empty (an unrelated name for the same image), so 'left as it
    was' compares real content."""
    done = hardbox("image", "import", f"oci:{busybox_layout.ref}", "--tag", "local/bb:1")
    assert done.returncode == 0, done.stderr
    return hardbox_root


@pytest.mark.parametrize("command", ["scan", "sbom", "gate"])
def test_a_registry_image_is_read_from_a_temporary_store(
        command: str, registry: Registry, store_with_an_image: Path, isolated: Path,
        tmp_path: Path) -> None:
    before, names = tree(store_with_an_image), listing()
    out = tmp_path / "out.json"
    args = {"scan": ["scan", "-q", "--json", str(out)],
            "sbom": ["sbom", "-o", str(out)],
            "gate": ["gate", "--json", str(out)]}[command]
    done = hardbox(*args, f"docker://{registry.ref(REPO)}")
    assert done.returncode in ((0, 1) if command == "gate" else (0,)), done.stderr
    report = out.read_text()
    # Each document names the image it read: the config digest the registry serves.
    assert registry_config_digest(registry, REPO) in report
    if command == "scan":
        assert json.loads(report)["image"]["id"] == registry_config_digest(registry, REPO)
    assert tree(store_with_an_image) == before
    assert listing() == names
    assert list(isolated.iterdir()) == []


def test_keep_image_keeps_what_was_pulled(registry: Registry, store_with_an_image: Path) -> None:
    ref = registry.ref(REPO)
    assert hardbox("scan", "-q", "--json", "/dev/null", "--pull", "never",
                   f"docker://{ref}").returncode == 2
    done = hardbox("scan", "-q", "--keep-image", "--json", "/dev/null", f"docker://{ref}")
    assert done.returncode == 0, done.stderr
    shown = hardbox("image", "inspect", "--json", "--pull", "never", ref)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == registry_config_digest(registry, REPO)


def test_pull_never_names_the_reference(registry: Registry, hardbox_root: Path) -> None:
    ref = registry.ref(REPO)
    for args, code in ((("sbom", "--pull", "never", f"docker://{ref}"), 2),
                       (("gate", "--pull", "never", ref), 2),
                       (("bundle", "--pull", "never", ref, str(hardbox_root / "b")), 2),
                       (("image", "inspect", "--pull", "never", ref), 2),
                       (("run", "--pull", "never", f"docker://{ref}", "/bin/true"), 125)):
        done = hardbox(*args)
        assert done.returncode == code, (args, done.stderr)
        assert f"{ref}' in the store" in done.stderr, done.stderr
        assert "--pull never forbids pulling it" in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert not (hardbox_root / "b").exists()


def test_a_broken_pull_leaves_the_store_and_tmpdir_as_they_were(
        tmp_path: Path, busybox_layout: OciLayout, store_with_an_image: Path,
        isolated: Path) -> None:
    need_tool("docker-registry", "skopeo")
    with start_registry(tmp_path / "reg") as reg:
        skopeo_push(f"oci:{busybox_layout.ref}", reg.ref(REPO), "--dest-tls-verify=false")
        # Take the layer away under the registry: the manifest and config still serve, the
        # layer download fails half-way through the pull.
        manifest = json.loads(subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reg.ref(REPO)}"],
            capture_output=True, check=True, timeout=60).stdout)
        layer = manifest["layers"][0]["digest"].removeprefix("sha256:")
        data = tmp_path / "reg" / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
        (data / layer[:2] / layer / "data").unlink()
        before, names = tree(store_with_an_image), listing()
        for command in (["scan", "-q", "--json", "/dev/null"], ["sbom", "-o", "/dev/null"],
                        ["gate"]):
            done = hardbox(*command, f"docker://{reg.ref(REPO)}")
            assert done.returncode == 2, (command, done.stderr)
            assert reg.host in done.stderr and len(done.stderr.strip().splitlines()) <= 2
            assert tree(store_with_an_image) == before, command
            assert listing() == names
            assert list(isolated.iterdir()) == []


def test_a_bare_name_the_store_lacks_is_pulled_per_policy(
        registry: Registry, hardbox_root: Path) -> None:
    ref = registry.ref(REPO)
    expected = registry_config_digest(registry, REPO)  # skopeo's requests, before counting
    gets = manifest_gets(registry, "team/bb")
    shown = hardbox("image", "inspect", "--json", ref)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == expected
    assert manifest_gets(registry, "team/bb") == gets + 1
    # missing: stored now, so the registry is not asked again; always: asked once more.
    assert hardbox("image", "inspect", ref).returncode == 0
    assert manifest_gets(registry, "team/bb") == gets + 1
    again = hardbox("image", "inspect", "--pull", "always", f"docker://{ref}")
    assert again.returncode == 0, again.stderr
    assert manifest_gets(registry, "team/bb") == gets + 2
    # A name in neither the store nor the registry: one line, exit 2, saying both (it may
    # be a typo of a stored name).
    gone = hardbox("image", "inspect", registry.ref("team/none:1"))
    assert gone.returncode == 2, gone.stderr
    assert f"no image '{registry.ref('team/none:1')}' in the store, and pulling" in gone.stderr
    assert "not found (HTTP 404)" in gone.stderr
    assert len(gone.stderr.strip().splitlines()) <= 2


def test_run_and_bundle_pull_on_demand(registry: Registry, hardbox_root: Path,
                                       tmp_path: Path) -> None:
    ref = registry.ref(REPO)
    done = hardbox("run", "--rm", f"docker://{ref}", "/bin/echo", "pulled and ran")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pulled and ran"
    stored = hardbox("image", "inspect", "--json", "--pull", "never", ref)
    assert stored.returncode == 0, stored.stderr
    bundle = tmp_path / "bundle"
    made = hardbox("bundle", "--pull", "always", f"docker://{ref}", str(bundle))
    assert made.returncode == 0, made.stderr
    assert json.loads((bundle / "config.json").read_text())["process"]["args"]


def test_minimize_pulls_and_pushes_the_verified_result(registry: Registry,
                                                       hardbox_root: Path) -> None:
    need_tool("strace", "umoci")
    if os.geteuid() != 0:
        pytest.skip("hardbox minimize needs root")
    dest = registry.ref("team/bb:min")
    refused = hardbox("minimize", f"docker://{registry.ref(REPO)}", "--tag", "bb:min",
                      "--push", dest)
    assert refused.returncode == 2 and "--push needs a --probe" in refused.stderr
    done = hardbox("minimize", f"docker://{registry.ref(REPO)}", "--tag", "bb:min",
                   "--probe", "sh -c 'ls /bin >/dev/null'", "--push", f"docker://{dest}")
    assert done.returncode == 0, done.stderr
    digest = done.stdout.strip().splitlines()[-1]
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                          f"docker://{dest}"], capture_output=True, check=True,
                         timeout=60).stdout
    assert digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    shown = hardbox("image", "inspect", "--json", "bb:min")
    assert json.loads(shown.stdout)["id"] == registry_config_digest(registry, "team/bb:min")
    assert json.loads(shown.stdout)["manifest_digest"] == digest
