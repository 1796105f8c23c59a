"""gate/k8s/images.py on real manifests read by ``load_manifests``: which images a manifest
runs (one per normalised reference, every container kind, in the manifest's order), which
cannot be opened and why, and how an image's decision moves onto the manifest. The image
gate itself is driven end to end in tests/integration/test_gate_k8s_images.py."""

from __future__ import annotations

from pathlib import Path

from hardbox.errors import ImageNotFound
from hardbox.findings import Finding, Kind, Severity
from hardbox.gate.evaluate import GateResult, evaluate
from hardbox.gate.k8s.images import judge_images, manifest_images
from hardbox.gate.k8s.manifests import Manifests, load_manifests
from hardbox.gate.policy import load_policy
from hardbox.gate.rules import Callback
from hardbox.gate.subject import Subject
from hardbox.image.source import StoredSource

MANIFEST = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - {name: migrate, image: "nginx"}
          containers:
          - {name: job, image: "docker.io/library/nginx:latest"}
          - {name: tool, image: "quay.io/org/tool:2"}
          - {name: nothing}
          ephemeralContainers:
          - {name: debug, image: "/srv/images/app.tar"}
"""


def load(tmp_path: Path) -> Manifests:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    return load_manifests(tmp_path / "m.yaml")


def test_each_image_once_with_every_container_that_runs_it(tmp_path: Path) -> None:
    images = manifest_images(load(tmp_path))
    by_name = {image.name: image for image in images}
    # Containers first, as the Pod Security checks walk them; nginx spelled as first met.
    assert list(by_name) == ["docker.io/library/nginx:latest", "quay.io/org/tool:2", "", "/srv/images/app.tar"]
    nginx = by_name["docker.io/library/nginx:latest"]
    assert [u.field for u in nginx.uses] == [
        "spec.jobTemplate.spec.template.spec.containers[0].image",
        "spec.jobTemplate.spec.template.spec.initContainers[0].image",
    ]
    assert [u.line for u in nginx.uses] == [12, 10] and nginx.problem == ""
    assert by_name[""].problem == "the container names no image"
    assert by_name["/srv/images/app.tar"].problem.startswith("not an image reference")
    assert isinstance(by_name["quay.io/org/tool:2"].source(), StoredSource)


def setuid(path: str) -> Finding:
    return Finding("HB-FILE-001", Kind.MISCONFIGURATION, Severity.HIGH, "setuid file", path=path)


def test_an_image_that_cannot_be_obtained_fails_closed_and_findings_move_to_each_use(tmp_path: Path) -> None:
    policy = load_policy(None)
    images = manifest_images(load(tmp_path))

    def judge(source: StoredSource) -> GateResult:
        if source.name == "quay.io/org/tool:2":
            raise ImageNotFound("no image 'quay.io/org/tool:2' in the store", "pull it first")
        rule = Callback("forbid.setuid-files", "no setuid files",
                        lambda _s: [setuid("/bin/su"), setuid("/bin/mount")])
        return evaluate(Subject(source.name, "sha256:" + "ab" * 32), policy, [rule])

    decided = judge_images(images, judge, policy, ())
    rules = {r.name: r for r in decided.rules}
    moved = rules["image[docker.io/library/nginx:latest]/forbid.setuid-files"].failing
    # Two findings of the image at two containers: four findings, four distinct alerts.
    assert sorted((f.line, f.extra["image_path"]) for f in moved) == [
        (10, "/bin/mount"), (10, "/bin/su"), (12, "/bin/mount"), (12, "/bin/su")]
    assert len({f.fingerprint() for f in moved}) == 4
    assert all(f.path == str(tmp_path / "m.yaml") and f.extra["source"] == "kubernetes" for f in moved)
    for name, fix in (("quay.io/org/tool:2", "pull it first"), ("", "registry reference"),
                      ("/srv/images/app.tar", "registry reference")):
        (finding,) = rules[f"image[{name or '(none)'}]/checked"].failing
        assert finding.id == "HB-GATE-013" and fix in finding.fix
    assert any(n.startswith("not checked: image quay.io/org/tool:2 of CronJob nightly containers[1]")
               for n in decided.notes)
