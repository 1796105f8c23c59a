"""One secret detector set (issue 15): a rule added to the rules file is found by ``hardbox
scan`` (in a file, in ENV, in build history) and by ``hardbox lint`` (in ENV and in a RUN
line) alike, with no code changed. The rules file is the shipped one plus one rule, named by
``$HARDBOX_SECRET_RULES``; the image is built by umoci.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_tool

from hardbox.secrets import RULES_ENV, load_policy
from hardbox.secrets.load import shipped_rules_path

pytestmark = pytest.mark.slow

TOKEN = "acme_dk_" + "q7w2e9r4t1y8u3i6o5p0a2s7d4f9g1h3"
RULE = r"""
  - id: HB-SEC-099
    title: Acme deploy key
    severity: high
    keywords: [acme_dk_]
    regex: '\b(acme_dk_[a-z0-9]{32})\b'
    min_entropy: 3
    why: An Acme deploy key pushes releases as its owner.
    fix: Revoke it in the Acme console.
"""
DOCKERFILE = f"""FROM busybox:1.36
ENV ACME_KEY={TOKEN}
RUN wget --header 'X-Deploy-Key: {TOKEN}' https://acme.invalid/release
USER 10001
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    # `rules:` is the file's last section: appending one item adds a rule.
    path.write_text(shipped_rules_path().read_text().rstrip("\n") + "\n" + RULE)
    return path


def env(rules: Path | None, **more: str) -> dict[str, str]:
    out = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **more}
    if rules is not None:
        out[RULES_ENV] = str(rules)
    return out


def test_the_shipped_rules_do_not_know_the_token(rules: Path) -> None:
    """Otherwise the tests below would prove nothing about the added rule."""
    assert load_policy().find_text(TOKEN) == []
    assert [m.rule.id for m in load_policy(rules).find_text(TOKEN)] == ["HB-SEC-099"]


def lint(tmp_path: Path, rules: Path | None) -> tuple[str, list[dict[str, Any]]]:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE)
    proc = hardbox("lint", str(dockerfile), "--json", "-", "--fail-on", "critical", env=env(rules))
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout, json.loads(proc.stdout)["findings"]


def test_lint_finds_the_added_rule_in_env_and_run(tmp_path: Path, rules: Path) -> None:
    text, findings = lint(tmp_path, rules)
    acme = sorted((f["line"], f["message"]) for f in findings if "Acme deploy key" in f["message"])
    assert [line for line, _ in acme] == [2, 3], findings
    assert acme[1][1].startswith("RUN holds a credential: Acme deploy key")
    assert TOKEN not in text
    _, without = lint(tmp_path, None)
    assert not [f for f in without if "Acme" in f["message"]]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> imagebuild.OciImage:
    need_tool("umoci")
    image = imagebuild.busybox_image(tmp_path_factory.mktemp("acme"), tag="acme")
    image.add_layer(lambda root: (root / "etc/acme.conf").write_text(f"key = {TOKEN}\n"),
                    f"|1 ACME_BUILD={TOKEN} /bin/sh -c ./configure")
    image.configure(f"--config.env=ACME_KEY={TOKEN}")
    return image


def test_scan_finds_the_added_rule_in_a_file_env_and_history(image: imagebuild.OciImage, rules: Path,
                                                            tmp_path: Path) -> None:
    proc = hardbox("scan", f"oci:{image.ref}", "--json", "-", "-q",
                   env=env(rules, HARDBOX_ROOT=str(tmp_path / "store")))
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout
    findings = json.loads(proc.stdout)["findings"]
    in_file = [f for f in findings if f["id"] == "HB-SEC-099"]
    assert [(f["path"], f["layer_index"]) for f in in_file] == [("/etc/acme.conf", 1)]
    titles = {f["title"] for f in findings if f["id"] in ("HB-CFG-005", "HB-CFG-006")}
    assert titles == {"Acme deploy key in ENV ACME_KEY", "Acme deploy key in build history"}
