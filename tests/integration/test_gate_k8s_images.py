"""``hardbox gate --k8s MANIFEST --images`` through the real CLI: every image a manifest's
containers run goes through the image gate, and its findings join the one decision at the
line of the container's ``image:`` field.

Images are real (busybox-static by umoci; one with the dist-info pip wrote for this
machine's jinja2, matched by an OSV advisory imported with ``hardbox db import``), stored by
``hardbox image import`` or pushed by skopeo to Debian's ``docker-registry`` on loopback.
The suite runs with ``HARDBOX_PULL=never``, so a registry image is pulled only where a test
says ``--pull missing``."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_tool
from helpers.k8s import restricted_container
from helpers.registry import Registry, skopeo_push
from helpers.scanimages import SITE_PACKAGES, write_advisory

SARIF_SCHEMA = Path(__file__).parents[1] / "unit" / "report" / "sarif-schema-2.1.0.json"
ADVISORY = "GHSA-hbx0-test-0001"  # helpers.scanimages.write_advisory: jinja2, fixed above ours
VULNERABLE = "k8s/vulnerable:1"
# The default policy's image rules: vulnerabilities, forbid secrets, forbid root-user.
IMAGE_RULES = ("vulnerabilities", "forbid.secrets", "forbid.root-user")


def pod(containers: list[tuple[str, str]], init: list[tuple[str, str]] | None = None) -> str:
    """A Pod that meets the restricted controls, with these (name, image) containers."""
    text = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  securityContext:\n"
            "    runAsNonRoot: true\n    seccompProfile: {type: RuntimeDefault}\n")
    if init:
        text += "  initContainers:\n" + "".join(restricted_container(n, i, indent=2) for n, i in init)
    return text + "  containers:\n" + "".join(restricted_container(n, i, indent=2) for n, i in containers)


def image_lines(manifest: str, image: str) -> list[int]:
    """The 1-based lines of the ``image: IMAGE`` fields."""
    return [n for n, line in enumerate(manifest.splitlines(), 1) if line.strip() == f"image: {image}"]


def gate(manifest: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """``gate --k8s MANIFEST --images``: exit code, the JSON decision, the CI log (stderr)."""
    proc = hardbox("gate", "--k8s", str(manifest), "--images", "--json", "-", *args, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def rules(decision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in decision["rules"]}


def _jinja2_dist_info(root: Path) -> None:
    """The dist-info pip wrote when it installed this machine's jinja2, as it is."""
    source = Path(str(importlib.metadata.distribution("jinja2")._path))  # type: ignore[attr-defined]
    shutil.copytree(source, root / SITE_PACKAGES / source.name)


@pytest.fixture(scope="module")
def vulnerable_layout(image_workdir: Path) -> imagebuild.OciImage:
    """busybox (user 1000) plus a layer with jinja2's dist-info: fails the default policy on
    the advisory alone."""
    need_tool("umoci", "skopeo")
    image = imagebuild.busybox_image(image_workdir / "k8s-vulnerable")
    image.add_layer(_jinja2_dist_info, "COPY jinja2 dist-info")
    return image


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, busybox_archive: Path,
          vulnerable_layout: imagebuild.OciImage) -> Iterator[Path]:
    """One store for the module: the advisory database, bbtest:latest (passes the default
    policy) and k8s/vulnerable:1 (fails it), imported once."""
    root = tmp_path_factory.mktemp("k8s-images")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARDBOX_ROOT", str(root / "store"))
        hardbox("db", "import", str(write_advisory(root / "osv")), check=True)
        hardbox("image", "import", str(busybox_archive), check=True)
        hardbox("image", "import", f"oci:{vulnerable_layout.ref}", "--tag", VULNERABLE, check=True)
        yield root / "store"


def test_a_manifest_whose_images_pass(store: Path, tmp_path: Path) -> None:
    # Two spellings of one image (Docker's normalisation): judged once, for both containers.
    text = pod([("app", "bbtest"), ("sidecar", "docker.io/library/bbtest:latest")])
    (tmp_path / "ok.yaml").write_text(text)
    code, decision, log = gate(tmp_path / "ok.yaml")
    assert code == 0, log
    names = [r["rule"] for r in decision["rules"]]
    assert names[19:] == [f"image[bbtest]/{rule}" for rule in IMAGE_RULES]  # after the 19 controls
    assert decision["passed"] is True and "all 22 rules passed" in log
    assert any(n.startswith("checked image bbtest (") and n.endswith("for 2 containers") for n in decision["notes"])
    # Without --images the same manifest is judged as before: the controls only.
    proc = hardbox("gate", "--k8s", str(tmp_path / "ok.yaml"), "--json", "-")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["rules"]) == 19


def test_an_image_that_fails_the_policy_fails_the_manifest_at_its_image_line(store: Path, tmp_path: Path) -> None:
    text = pod([("app", "bbtest"), ("api", VULNERABLE)])
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(text)
    (line,) = image_lines(text, VULNERABLE)
    sarif, junit = tmp_path / "gate.sarif", tmp_path / "gate.xml"
    code, decision, log = gate(manifest, "--sarif", str(sarif), "--junit", str(junit))
    assert code == 1
    assert f"{ADVISORY} jinja2" in log and f"(image {VULNERABLE}) at {manifest}:{line}" in log

    failed = [r["rule"] for r in decision["rules"] if not r["passed"]]
    assert failed == [f"image[{VULNERABLE}]/vulnerabilities"]  # bbtest and the manifest itself pass
    (finding,) = rules(decision)[failed[0]]["findings"]
    assert finding["id"] == ADVISORY and finding["path"] == str(manifest)
    assert finding["extra"]["line"] == line and finding["extra"]["image"] == VULNERABLE
    assert finding["extra"]["field"] == "spec.containers[1].image" and finding["extra"]["object"] == "Pod/api"
    assert finding["extra"]["image_path"].startswith(f"/{SITE_PACKAGES}/")  # where in the image, kept

    log_json = json.loads(sarif.read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log_json)
    (result,) = log_json["runs"][0]["results"]
    physical = result["locations"][0]["physicalLocation"]
    assert result["ruleId"] == ADVISORY and VULNERABLE in result["message"]["text"]
    assert physical == {"artifactLocation": {"uri": manifest.as_uri()}, "region": {"startLine": line}}

    junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads the JUnit XML")
    (suite,) = list(junitparser.JUnitXml.fromfile(str(junit)))
    assert suite.tests == 19 + 2 * len(IMAGE_RULES) and suite.failures == 1

    # An exception waives the image's finding as it would for `hardbox gate IMAGE`.
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text(f"version: 1\nexceptions:\n- advisory: {ADVISORY}\n  reason: not reachable\n"
                          "  approved_by: sec@example.com\n  expires: 2999-01-01\n")
    code, decision, _ = gate(manifest, "--exceptions", str(exceptions))
    (waived,) = rules(decision)[failed[0]]["excepted"]
    assert code == 0 and waived["finding"]["extra"]["line"] == line


def test_an_image_that_cannot_be_obtained_fails_closed(store: Path, tmp_path: Path, busybox_archive: Path) -> None:
    # Not stored, and --pull never (the suite's default); and a path to a real archive, which
    # a manifest's image field must never make hardbox open.
    text = pod([("app", "bbtest"), ("gone", "example.invalid/gone:1"), ("file", str(busybox_archive))])
    manifest = tmp_path / "missing.yaml"
    manifest.write_text(text)
    code, decision, log = gate(manifest, "--markdown", str(tmp_path / "gate.md"))
    assert code == 1
    for image, why in (("example.invalid/gone:1", "--pull never forbids pulling it"),
                       (str(busybox_archive), "not an image reference")):
        rule = rules(decision)[f"image[{image}]/checked"]
        (finding,) = rule["findings"]
        assert finding["id"] == "HB-GATE-013" and why in finding["title"] and image in finding["title"]
        assert finding["extra"]["line"] == image_lines(text, image)[0]
        assert any(n.startswith(f"not checked: image {image} of Pod api containers[") and why in n
                   for n in decision["notes"])
    assert rules(decision)["image[bbtest]/vulnerabilities"]["passed"] is True  # the others still judged
    assert "HB-GATE-013" in (tmp_path / "gate.md").read_text() and "HB-GATE-013" in log


@pytest.mark.network
def test_a_registry_image_named_twice_is_pulled_and_scanned_once(
        store: Path, registry_client: Path, plain: Registry, vulnerable_layout: imagebuild.OciImage,
        tmp_path: Path) -> None:
    skopeo_push(f"oci:{vulnerable_layout.ref}", plain.ref("team/app:1"), "--dest-tls-verify=false")
    ref = plain.ref("team/app:1")
    text = pod([("app", ref)], init=[("migrate", ref)])
    manifest = tmp_path / "twice.yaml"
    manifest.write_text(text)
    # registry_client gave this test an empty store: the database is the module's, by --db,
    # and the image is pulled (--pull missing) into a temporary store, removed afterwards.
    code, decision, log = gate(manifest, "--pull", "missing", "--db", str(store / "db" / "osv.sqlite"))
    assert code == 1, log
    gets = [line for line in plain.access_log().splitlines() if '"GET /v2/team/app/manifests/1' in line]
    assert len(gets) == 1, gets
    assert [r["rule"] for r in decision["rules"][19:]] == [f"image[{ref}]/{rule}" for rule in IMAGE_RULES]
    findings = rules(decision)[f"image[{ref}]/vulnerabilities"]["findings"]
    # The one finding, at each container that runs the image: two lines, two alerts.
    assert sorted(f["extra"]["line"] for f in findings) == image_lines(text, ref)
    assert {f["extra"]["field"] for f in findings} == {"spec.containers[0].image", "spec.initContainers[0].image"}
    listing = hardbox("image", "ls", "--json")
    assert json.loads(listing.stdout) == [] and not any((registry_client / "tmp").iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["--images"], "--images gates the images of a manifest: it goes with --k8s MANIFEST"),
    (["--k8s", "{m}", "--db", "x.sqlite"], "--db cannot go with it"),
    (["--k8s", "{m}", "--images", "--dockerfile", "Dockerfile"], "--dockerfile cannot go with it"),
    (["--k8s", "{bad}", "--images"], "expected a string"),
    (["--k8s", "{m}", "--images", "--db", "{garbage}"], "not a hardbox vulnerability database"),
])
def test_unusable_input_is_exit_2(args: list[str], message: str, tmp_path: Path, hardbox_root: Path) -> None:
    (tmp_path / "m.yaml").write_text(pod([("app", "bbtest")]))
    (tmp_path / "bad.yaml").write_text(pod([("app", "bbtest")]).replace("image: bbtest", "image: 5"))
    (tmp_path / "garbage.sqlite").write_bytes(bytes(range(256)) * 16)  # no database: refused before any image
    files = {"m": tmp_path / "m.yaml", "bad": tmp_path / "bad.yaml", "garbage": tmp_path / "garbage.sqlite"}
    proc = hardbox("gate", *(a.format(**files) for a in args))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr.splitlines()[0], proc.stderr
