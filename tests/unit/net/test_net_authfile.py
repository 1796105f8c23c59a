"""The registry auth file: where it is, how it is written (0600, atomic), and the lookup
order of Podman and Docker — the containers auth file, then ~/.docker/config.json with its
credHelpers, auths and credsStore (a real helper program run as Docker runs it)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.net import authfile
from hardbox.net.authfile import Credentials


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert authfile.auth_file() == Path(f"/run/containers/{os.getuid()}/auth.json")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    assert authfile.auth_file() == tmp_path / "xdg" / "containers" / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "mine.json"))
    assert authfile.auth_file() == tmp_path / "mine.json"


def test_save_lookup_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run" / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    path.parent.mkdir()
    path.write_text(json.dumps({"auths": {"other.example:5000": {"auth": b64("o:p")}},
                                "unknown": {"kept": True}}))
    authfile.save("reg.example:5000", Credentials("alice", "pa:ss"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    obj = json.loads(path.read_text())
    assert obj["unknown"] == {"kept": True}  # what we do not understand we keep
    assert obj["auths"]["reg.example:5000"] == {"auth": b64("alice:pa:ss")}
    assert authfile.lookup("reg.example:5000") == Credentials("alice", "pa:ss")
    assert authfile.lookup("other.example:5000") == Credentials("o", "p")
    assert authfile.lookup("nowhere.example") is None
    assert authfile.remove("reg.example:5000") is True
    assert authfile.remove("reg.example:5000") is False
    assert authfile.lookup("reg.example:5000") is None
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]  # no temp file left


def test_docker_hub_keys_and_docker_config_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "absent.json"))
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps(
        {"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}}))
    assert authfile.lookup("docker.io") == Credentials("hub", "pw")


def test_bad_entries_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    path.write_text(json.dumps({"auths": {"r.example": {"auth": "not base64!"}}}))
    with pytest.raises(InputError, match=r"auths\['r.example'\].auth is not base64"):
        authfile.lookup("r.example")
    path.write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        authfile.lookup("r.example")


def _helper(bindir: Path, name: str, answers: dict[str, tuple[str, str]]) -> Path:
    """A docker-credential-NAME program as Docker calls it: `get`, the server on stdin."""
    bindir.mkdir(exist_ok=True)
    program = bindir / f"docker-credential-{name}"
    table = {server: {"ServerURL": server, "Username": u, "Secret": s}
             for server, (u, s) in answers.items()}
    program.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 3\n'
        "read server\n"
        "case \"$server\" in\n"
        + "".join(f"  '{server}') echo '{json.dumps(obj)}' ;;\n" for server, obj in table.items())
        + "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
        "esac\n")
    program.chmod(0o755)
    return program


def test_cred_helpers_and_creds_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "absent.json"))
    bindir = tmp_path / "bin"
    _helper(bindir, "pass", {"helped.example": ("h-user", "h-secret")})
    _helper(bindir, "desktop", {"https://index.docker.io/v1/": ("hub-user", "hub-secret"),
                                "stored.example": ("s-user", "s-secret")})
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({
        "credHelpers": {"helped.example": "pass"},
        "auths": {"plain.example": {"auth": b64("p-user:p-secret")}},
        "credsStore": "desktop"}))
    assert authfile.lookup("helped.example") == Credentials("h-user", "h-secret")
    assert authfile.lookup("plain.example") == Credentials("p-user", "p-secret")
    assert authfile.lookup("stored.example") == Credentials("s-user", "s-secret")
    assert authfile.lookup("docker.io") == Credentials("hub-user", "hub-secret")
    assert authfile.lookup("unknown.example") is None
    (docker / "config.json").write_text(json.dumps({"credsStore": "missing"}))
    with pytest.raises(InputError, match="docker-credential-missing is not installed"):
        authfile.lookup("x.example")


def test_credentials_never_print_the_password() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))
