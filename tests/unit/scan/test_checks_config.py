"""Image config checks on configs written by umoci, read through the real store.

The "bad" image is busybox with every config problem umoci can express: no USER, SSH and a
privileged port exposed, a credential in ENV and LABEL, build history with a token in a build
argument and an ADD from a URL, a base named by `latest`, and no CMD. The clean fixture
(``busybox_layout``: user 1000, cmd /bin/sh) has only the missing HEALTHCHECK, which umoci
cannot set (OCI configs have no healthcheck; the buildah integration test covers one that does).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import need_tool

from hardbox.findings import Finding, Kind, Severity
from hardbox.image.source import open_image
from hardbox.image.store.store import Store
from hardbox.scan.checks.config import ConfigCheck, scrub
from hardbox.scan.checks.interface import CheckOptions, ImageContext
from hardbox.scan.checks.secrets import load_policy
from hardbox.scan.prepare import prepare_image
from hardbox.scan.scanner import check_context

# Building the umoci layout takes several seconds on a loaded machine.
pytestmark = pytest.mark.slow

TOKEN = "ghp_" + "Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7"
ENV_SECRET = "s3cr3t-Value-42"
LABEL_TOKEN = "glpat-" + "Lm3Nb4Vc5Xz6Aq7Sw8De"


@pytest.fixture(scope="module")
def bad_layout(tmp_path_factory: pytest.TempPathFactory) -> imagebuild.OciImage:
    need_tool("umoci")
    work = tmp_path_factory.mktemp("cfg")
    rootfs = imagebuild.busybox_rootfs(work / "rootfs", applets=["sh"])
    image = imagebuild.OciImage(work / "layout", "bad")
    image.add_rootfs(rootfs, "COPY rootfs /")
    image.add_layer(lambda root: (root / "etc/motd").write_text("hi\n"),
                    f"|1 GITHUB_TOKEN={TOKEN} /bin/sh -c echo hi > /etc/motd")
    image.configure("--history.created_by=ADD https://example.com/tool.tgz /opt/",
                    "--config.exposedports=22/tcp")
    image.configure("--config.exposedports=80/tcp", "--config.exposedports=8080/tcp",
                    f"--config.env=DB_PASSWORD={ENV_SECRET}", "--config.env=PASSWORD_FILE=/run/pw",
                    f"--config.label=com.example.deploy={LABEL_TOKEN}",
                    "--config.label=org.opencontainers.image.base.name=docker.io/library/busybox:latest",
                    "--history.created_by=/bin/sh -c #(nop) EXPOSE 22/tcp 80/tcp 8080/tcp")
    return image


def config_findings(ref: str, root: Path) -> tuple[list[Finding], ImageContext]:
    with open_image(ref, Store.open(root)) as image:
        context = check_context(ref, prepare_image(image))
    return ConfigCheck(context, CheckOptions()).findings(), context


@pytest.fixture(scope="module")
def bad(bad_layout: imagebuild.OciImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Finding], ImageContext]]:
    yield config_findings(f"oci:{bad_layout.ref}", tmp_path_factory.mktemp("store"))


def ids(findings: list[Finding]) -> list[str]:
    return sorted(f.id for f in findings)


def test_the_clean_busybox_image_only_lacks_a_healthcheck(busybox_layout: imagebuild.OciImage, tmp_path: Path) -> None:
    findings, _ = config_findings(f"oci:{busybox_layout.ref}", tmp_path / "store")
    assert ids(findings) == ["HB-CFG-004"]


def test_root_user(bad: tuple[list[Finding], ImageContext]) -> None:
    (root,) = [f for f in bad[0] if f.id == "HB-CFG-001"]
    assert root.severity is Severity.HIGH and "no USER is set" in root.detail


def test_exposed_ports_point_at_the_expose_step(bad: tuple[list[Finding], ImageContext]) -> None:
    findings, context = bad
    (ssh,) = [f for f in findings if f.id == "HB-CFG-002"]
    assert ssh.extra["port"] == "22/tcp" and ssh.title == "SSH port 22/tcp exposed"
    assert ssh.history_index is not None
    step = context.steps[ssh.history_index]
    assert "EXPOSE 22/tcp" in step.created_by and step.layer is None
    privileged = [f.extra["port"] for f in findings if f.id == "HB-CFG-003"]
    assert privileged == ["80/tcp"]  # 8080 is not privileged


def test_secret_in_a_label_is_named_by_its_format(bad: tuple[list[Finding], ImageContext]) -> None:
    (label,) = [f for f in bad[0] if f.id == "HB-CFG-005" and f.secret and f.secret.source == "LABEL"]
    assert label.title == "GitLab personal access token in LABEL com.example.deploy"
    assert label.severity is Severity.CRITICAL and LABEL_TOKEN not in repr(label)


def test_secret_in_env_is_redacted_and_file_pointers_are_not_secrets(bad: tuple[list[Finding], ImageContext]) -> None:
    (env,) = [f for f in bad[0] if f.id == "HB-CFG-005" and f.secret and f.secret.source == "ENV"]
    assert env.kind is Kind.SECRET and env.secret and env.secret.key == "DB_PASSWORD"
    assert ENV_SECRET not in repr(env) and env.redacted == "s3c… (15 chars)"


def test_token_in_a_build_argument_points_at_its_layer(bad: tuple[list[Finding], ImageContext]) -> None:
    (hist,) = [f for f in bad[0] if f.id == "HB-CFG-006"]
    assert hist.severity is Severity.CRITICAL and "GitHub token" in hist.title
    assert hist.layer is not None and hist.layer.index == 1
    assert TOKEN not in repr(hist)


def test_add_from_url_and_unpinned_base(bad: tuple[list[Finding], ImageContext]) -> None:
    (add,) = [f for f in bad[0] if f.id == "HB-CFG-008"]
    assert "https://example.com/tool.tgz" in add.detail
    (base,) = [f for f in bad[0] if f.id == "HB-CFG-007"]
    assert base.extra["base"] == "docker.io/library/busybox:latest"


def test_no_command(bad: tuple[list[Finding], ImageContext]) -> None:
    assert "HB-CFG-009" in ids(bad[0])


def test_scrub_removes_build_argument_secrets_from_history_text() -> None:
    text = f"|2 GITHUB_TOKEN={TOKEN} VERSION=1.2 /bin/sh -c make"
    scrubbed = scrub(text, load_policy())
    assert TOKEN not in scrubbed
    assert scrubbed.endswith("VERSION=1.2 /bin/sh -c make")
    once = scrub("|1 PASSWORD=hunter2 /bin/sh -c x", load_policy())
    assert once == "|1 PASSWORD=<redacted:h…(7chars)> /bin/sh -c x"
    assert scrub(once, load_policy()) == once
    assert scrub(scrubbed, load_policy()) == scrubbed
