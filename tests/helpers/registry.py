"""Real registries for the registry tests: Debian's ``docker-registry`` (CNCF distribution
2.8) started on 127.0.0.1 with a temporary config, in three setups — plain HTTP; TLS with a
CA the test makes plus htpasswd Basic auth; ``auth: token`` with a token issuer written
here that signs JWTs with a key the test makes — and killed by pid at teardown.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import bcrypt
import jwt
import yaml
from cryptography.hazmat.primitives import serialization

from helpers import cli
from helpers.httpserver import Req, send, serve
from helpers.tlsca import CA

USER, PASSWORD = "tester", "s3cret-pw"
JSON = {"Content-Type": "application/json"}
BUSYBOX = Path("/bin/busybox")


class OciLayout(Protocol):
    """What these tests read of the session's busybox image (conftest's ``busybox_layout``)."""

    layout: Path

    @property
    def ref(self) -> str: ...


def hardbox(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, as the registry tests run it: ``stdin`` is what it reads (a password),
    else nothing; bounded, so a pull that hangs fails its test instead of the run."""
    if stdin is not None:
        return cli.hardbox(*args, timeout=300, input=stdin)
    return cli.hardbox(*args, timeout=300, stdin=subprocess.DEVNULL)


def docker_config_credentials(host: str) -> None:
    """USER and PASSWORD for ``host`` in Docker's config ($DOCKER_CONFIG/config.json): the
    fallback hardbox reads, as Podman does, when the auth file holds none."""
    docker = Path(os.environ["DOCKER_CONFIG"])
    docker.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str                  # 127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    log: Path

    def ref(self, path: str) -> str:
        return f"{self.host}/{path}"

    def access_log(self) -> str:
        return self.log.read_text(errors="replace")


def _wait(host: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    hostname, port = host.rsplit(":", 1)
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection((hostname, int(port)), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("docker-registry did not listen in 10 s")


@contextmanager
def start_registry(work: Path, *, tls: tuple[Path, Path] | None = None,
                   auth: dict[str, object] | None = None) -> Iterator[Registry]:
    """docker-registry serving ``work/data`` on a free loopback port."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http_cfg: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex}
    if tls:
        http_cfg["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(work / "data")},
                    "delete": {"enabled": True}},
        "http": http_cfg,
    }
    if auth:
        config["auth"] = auth
    cfg = work / "config.yml"
    cfg.write_text(yaml.safe_dump(config))
    log = work / "registry.log"
    with open(log, "wb") as out:
        # distribution reads REGISTRY_<SECTION>_<KEY> as config overrides: REGISTRY_AUTH_FILE
        # (the containers auth file, which the tests set) would become `auth: file: …`.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    registry = Registry(f"127.0.0.1:{port}", proc, log)
    try:
        _wait(registry.host, proc, log)
        yield registry
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- TLS -------------------------------------------------------------------------------

def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server cert, server key) for 127.0.0.1, made fresh."""
    ca = CA(folder, "registry test CA")
    server = ca.issue("server", server=True)
    return ca.pem, server.cert, server.key


def htpasswd(path: Path) -> Path:
    path.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    return path


# -- token issuer ----------------------------------------------------------------------

@dataclass
class TokenIssuer:
    """Distribution's token service: Basic credentials in, a signed JWT granting the scope
    out (every action asked for). Counts the tokens it issued."""

    url: str
    rootcert: Path
    service: str = "hardbox-test-registry"
    issued: list[str] = field(default_factory=list)


@contextmanager
def token_issuer(folder: Path) -> Iterator[TokenIssuer]:
    # The signing certificate is its own root: distribution checks the JWT's x5c chain
    # against the rootcertbundle, which holds just this certificate.
    signer = CA(folder, "token signer")
    x5c = base64.b64encode(signer.cert.public_bytes(serialization.Encoding.DER)).decode()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    state: dict[str, TokenIssuer] = {}

    def handle(req: Req) -> None:
        if req.headers.get("Authorization") != expected:
            send(req, 401, b'{"details":"bad credentials"}', JSON)
            return
        query = parse_qs(urlsplit(req.path).query)
        issuer = state["issuer"]
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        t = int(time.time())
        claims = {"iss": "hardbox-test-issuer", "sub": USER, "aud": issuer.service,
                  "exp": t + 300, "nbf": t - 10, "iat": t, "jti": uuid.uuid4().hex,
                  "access": access}
        token = jwt.encode(claims, signer.key, algorithm="ES256", headers={"x5c": [x5c]})
        issuer.issued.append(",".join(query.get("scope", [])))
        send(req, 200, json.dumps({"token": token, "expires_in": 300}).encode(), JSON)

    with serve(handle) as base:
        state["issuer"] = TokenIssuer(f"{base}/token", signer.pem)
        yield state["issuer"]


def token_auth(issuer: TokenIssuer) -> dict[str, object]:
    return {"token": {"realm": issuer.url, "service": issuer.service,
                      "issuer": "hardbox-test-issuer", "rootcertbundle": str(issuer.rootcert)}}


def skopeo_push(src: str, dest: str, *extra: str) -> None:
    """``skopeo copy src docker://dest`` (extra flags: creds, cert dir, --all)."""
    subprocess.run(["skopeo", "copy", "-q", *extra, src, f"docker://{dest}"], check=True,
                   capture_output=True, text=True, timeout=120)
