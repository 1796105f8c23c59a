"""Reference normalisation follows Docker's (distribution/reference ParseNormalizedNamed)."""

from __future__ import annotations

import pytest

from hardbox.errors import InvalidReference
from hardbox.image.reference import parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("bbtest", "docker.io/library/bbtest:latest"),
        ("bbtest:latest", "docker.io/library/bbtest:latest"),
        ("library/bbtest:1.0", "docker.io/library/bbtest:1.0"),
        ("docker.io/bbtest", "docker.io/library/bbtest:latest"),
        ("index.docker.io/library/bbtest:2", "docker.io/library/bbtest:2"),
        ("acme/app", "docker.io/acme/app:latest"),
        ("quay.io/org/app:v1.2", "quay.io/org/app:v1.2"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/team/app:x", "localhost:5000/team/app:x"),
        ("registry.example.com:443/a/b/c", "registry.example.com:443/a/b/c:latest"),
        ("my_app-x/sub__z", "docker.io/my_app-x/sub__z:latest"),
        ("sub.domain/app", "sub.domain/app:latest"),
        (f"bbtest@{DIGEST}", f"docker.io/library/bbtest@{DIGEST}"),
        (f"bbtest:1@{DIGEST}", f"docker.io/library/bbtest:1@{DIGEST}"),
    ],
)
def test_normalises_like_docker(text: str, full: str) -> None:
    assert str(parse(text)) == full


def test_familiar_form_drops_default_registry_and_library() -> None:
    assert parse("docker.io/library/bbtest:1").familiar == "bbtest:1"
    assert parse("acme/app").familiar == "acme/app:latest"
    assert parse("quay.io/org/app:2").familiar == "quay.io/org/app:2"


def test_digest_only_reference_gets_no_default_tag() -> None:
    ref = parse(f"bbtest@{DIGEST}")
    assert ref.tag is None and ref.digest == DIGEST


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "empty"),
        ("BBTEST", "lower-case"),
        ("bbtest:", "bad tag"),
        ("bbtest:-x", "bad tag"),
        ("bbtest@sha256:abc", "digest must be"),
        ("bbtest@md5:" + "a" * 32, "digest must be"),
        ("a//b", "lower-case"),
        ("bad_domain.com/app", "bad registry"),
        ("x" * 500, "too long"),
    ],
)
def test_refuses_malformed_references_naming_the_problem(text: str, what: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse(text)
    assert what in str(err.value)
    assert err.value.exit_code == 2
