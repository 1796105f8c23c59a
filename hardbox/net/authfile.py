"""Registry credentials: the containers auth file, with Docker's config as a fallback.

Where they live, as Podman and skopeo read them (containers-auth.json(5)):
``$REGISTRY_AUTH_FILE``, else ``$XDG_RUNTIME_DIR/containers/auth.json``, else
``/run/containers/$UID/auth.json``. ``save``/``remove`` write that file atomically, mode
0600. ``lookup`` reads it, then ``~/.docker/config.json`` (``$DOCKER_CONFIG``): a
``credHelpers`` entry for the registry, its ``auths`` entry, then ``credsStore`` — a helper
is run as ``docker-credential-NAME get`` with the registry on stdin, as Docker does.
Registries are keyed ``host[:port]``; Docker Hub's key is ``docker.io``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.atomicfile import atomic_write
from hardbox.errors import InputError

DOCKER_HUB_KEYS = ("docker.io", "https://index.docker.io/v1/", "index.docker.io",
                   "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print a password
        return f"Credentials(username={self.username!r})"


def auth_file() -> Path:
    if env := os.environ.get("REGISTRY_AUTH_FILE"):
        return Path(env)
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg) / "containers" / "auth.json"
    return Path(f"/run/containers/{os.getuid()}/auth.json")


def docker_config() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    try:
        obj = json.loads(data) if data.strip() else {}
    except ValueError as err:
        raise InputError(f"{path}: not valid JSON ({err})", "fix or remove the file") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: not a JSON object", "fix or remove the file")
    return obj


def _keys(registry: str) -> tuple[str, ...]:
    if registry == "docker.io":
        return DOCKER_HUB_KEYS
    return (registry, f"https://{registry}", f"http://{registry}")


def _decode(entry: object, path: Path, key: str) -> Credentials | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("auth"), str) or not entry["auth"]:
        return None
    try:
        user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise InputError(f"{path}: auths[{key!r}].auth is not base64 of USER:PASSWORD",
                         f"log in again with `hardbox login {key}`")
    return Credentials(user, password)


def _from_auths(obj: dict[str, Any], registry: str, path: Path) -> Credentials | None:
    auths = obj.get("auths")
    if not isinstance(auths, dict):
        return None
    for key in _keys(registry):
        if (creds := _decode(auths.get(key), path, key)) is not None:
            return creds
    return None


def _helper(name: object, registry: str) -> Credentials | None:
    if not isinstance(name, str) or not name or "/" in name:
        return None
    server = "https://index.docker.io/v1/" if registry == "docker.io" else registry
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, "get"], input=server.encode(), capture_output=True,
                              timeout=30, check=False)
    except FileNotFoundError:
        raise InputError(f"credential helper {program} is not installed",
                         f"install it, or remove it from {docker_config()}") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"credential helper {program} did not answer in 30 s") from None
    if done.returncode != 0:
        return None  # "credentials not found in native keychain"
    try:
        obj = json.loads(done.stdout)
        return Credentials(str(obj["Username"]), str(obj["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise InputError(f"credential helper {program}: unreadable answer") from None


def lookup(registry: str) -> Credentials | None:
    """The credentials for ``registry`` (``host[:port]``), or None for anonymous access."""
    path = auth_file()
    obj = _load(path)
    if isinstance(obj.get("credHelpers"), dict) and registry in obj["credHelpers"]:
        return _helper(obj["credHelpers"][registry], registry)
    if (creds := _from_auths(obj, registry, path)) is not None:
        return creds
    docker = docker_config()
    dobj = _load(docker)
    helpers = dobj.get("credHelpers")
    for key in _keys(registry):
        if isinstance(helpers, dict) and key in helpers:
            return _helper(helpers[key], registry)
    if (creds := _from_auths(dobj, registry, docker)) is not None:
        return creds
    if dobj.get("credsStore"):
        return _helper(dobj["credsStore"], registry)
    return None


def _write(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_write(path, mode=0o600) as fh:
        fh.write((json.dumps(obj, indent="\t") + "\n").encode())


def save(registry: str, creds: Credentials) -> Path:
    """Store ``creds`` for ``registry`` in the containers auth file; returns its path."""
    path = auth_file()
    obj = _load(path)
    auths = obj.get("auths") if isinstance(obj.get("auths"), dict) else {}
    assert isinstance(auths, dict)
    for key in _keys(registry)[1:]:
        auths.pop(key, None)
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    auths[registry] = {"auth": token}
    obj["auths"] = auths
    _write(path, obj)
    return path


def remove(registry: str) -> bool:
    """Forget ``registry``'s credentials in the containers auth file; False if none were there."""
    path = auth_file()
    obj = _load(path)
    auths = obj.get("auths")
    if not isinstance(auths, dict):
        return False
    found = [key for key in _keys(registry) if key in auths]
    for key in found:
        del auths[key]
    if found:
        _write(path, obj)
    return bool(found)
