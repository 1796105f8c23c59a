"""Fixtures the registry tests share (pull, push, the registry sources of every command,
hostile registries): the client's files isolated per test, a plain-HTTP registry and one
with token auth.

Fixtures live here rather than in helpers/registry.py because a fixture imported into a test
module reads as an unused import; the builders they call stay in helpers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.registry import Registry, TokenIssuer, start_registry, token_auth, token_issuer


@pytest.fixture
def registry_client(hardbox_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point hardbox's registry client at files of the test's own (auth file, Docker config,
    certs.d) and away from any proxy of the machine's; the test's store is ``hardbox_root``."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth" / "auth.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("HARDBOX_CERTS_D", str(tmp_path / "certs.d"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return hardbox_root


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Registry]:
    """docker-registry over plain HTTP on loopback, empty, for one test."""
    need_tool("docker-registry", "skopeo")
    with start_registry(tmp_path / "reg") as registry:
        yield registry


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[Registry, TokenIssuer]]:
    """docker-registry with ``auth: token`` on loopback, and the token issuer it trusts
    (which grants USER, with PASSWORD, every scope asked for and counts what it issued)."""
    need_tool("docker-registry", "skopeo")
    with token_issuer(tmp_path / "issuer") as issuer, \
            start_registry(tmp_path / "reg", auth=token_auth(issuer)) as registry:
        yield registry, issuer
