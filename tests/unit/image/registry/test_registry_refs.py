"""Registry references and endpoints: docker:// or bare, Docker's normalisation, no
short-name guessing, the docker.io mirror, auth-file keys; and WWW-Authenticate parsing."""

from __future__ import annotations

import pytest

from hardbox.errors import InvalidReference
from hardbox.image.registry import refs
from hardbox.image.registry.auth import parse_challenge


@pytest.mark.parametrize(("text", "expected"), [
    ("bbtest", "docker.io/library/bbtest:latest"),
    ("docker://bbtest", "docker.io/library/bbtest:latest"),
    ("docker://127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app:1"),
    ("localhost/app", "localhost/app:latest"),
    ("quay.io/org/app@sha256:" + "a" * 64, "quay.io/org/app@sha256:" + "a" * 64),
    ("index.docker.io/library/debian:12", "docker.io/library/debian:12"),
])
def test_parse(text: str, expected: str) -> None:
    assert str(refs.parse(text)) == expected


def test_bad_reference_is_refused() -> None:
    with pytest.raises(InvalidReference):
        refs.parse("docker://UPPER/case")


def test_endpoint_and_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDBOX_REGISTRY_MIRROR", raising=False)
    assert refs.endpoint("docker.io") == "registry-1.docker.io"
    assert refs.endpoint("127.0.0.1:5000") == "127.0.0.1:5000"
    monkeypatch.setenv("HARDBOX_REGISTRY_MIRROR", "mirror.internal:5000")
    assert refs.endpoint("docker.io") == "mirror.internal:5000"
    assert refs.endpoint("quay.io") == "quay.io"  # the mirror is for docker.io only
    # The mirror gets its own credentials, never Docker Hub's.
    assert refs.auth_key("docker.io") == "mirror.internal:5000"
    monkeypatch.delenv("HARDBOX_REGISTRY_MIRROR")
    assert refs.auth_key("docker.io") == "docker.io"


@pytest.mark.parametrize(("text", "key"), [
    ("https://index.docker.io/v1/", "docker.io"), ("registry-1.docker.io", "docker.io"),
    ("docker.io", "docker.io"), ("127.0.0.1:5000", "127.0.0.1:5000"),
    ("https://quay.io", "quay.io"),
])
def test_registry_key(text: str, key: str) -> None:
    assert refs.registry_key(text) == key


def test_challenges() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                        'scope="repository:a/b:pull,push"')
    assert c is not None and c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "reg",
                        "scope": "repository:a/b:pull,push"}
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge(None) is None
