"""Real registries for the registry tests: Debian's ``docker-registry`` (CNCF distribution
2.8) started on 127.0.0.1 with a temporary config, in three setups — plain HTTP; TLS with a
CA the test makes plus htpasswd Basic auth; ``auth: token`` with a token issuer written
here that signs JWTs with a key the test makes — and killed by pid at teardown.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import bcrypt
import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "tester", "s3cret-pw"
BUSYBOX = Path("/bin/busybox")


class OciLayout(Protocol):
    """What these tests read of the session's busybox image (conftest's ``busybox_layout``)."""

    layout: Path

    @property
    def ref(self) -> str: ...


def isolate_client_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point hardbox's registry client at files of the test's own (auth file, Docker config,
    certs.d) and away from any proxy of the machine's."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth" / "auth.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("HARDBOX_CERTS_D", str(tmp_path / "certs.d"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)


def need_tools(*names: str) -> None:
    """Skip, saying why, when a peer tool is missing (scripts/install-deps.sh installs them)."""
    import shutil

    import pytest

    for name in names:
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (scripts/install-deps.sh installs it)")


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
    ca: Path | None = None     # PEM of the CA that signed its certificate
    issuer: TokenIssuer | None = None

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

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server cert, server key) for 127.0.0.1, made fresh."""
    import ipaddress

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("registry test CA"))
          .issuer_name(_name("registry test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


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
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("token signer"))
            .issuer_name(_name("token signer")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    rootcert = folder / "token-root.pem"
    rootcert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    state: dict[str, TokenIssuer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            from urllib.parse import parse_qs, urlsplit

            if self.headers.get("Authorization") != expected:
                self._send(401, b'{"details":"bad credentials"}')
                return
            query = parse_qs(urlsplit(self.path).query)
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
            token = jwt.encode(claims, key, algorithm="ES256", headers={"x5c": [x5c]})
            issuer.issued.append(",".join(query.get("scope", [])))
            self._send(200, json.dumps({"token": token, "expires_in": 300}).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["issuer"] = TokenIssuer(f"http://127.0.0.1:{server.server_address[1]}/token", rootcert)
    try:
        yield state["issuer"]
    finally:
        server.shutdown()
        server.server_close()


def token_auth(issuer: TokenIssuer) -> dict[str, object]:
    return {"token": {"realm": issuer.url, "service": issuer.service,
                      "issuer": "hardbox-test-issuer", "rootcertbundle": str(issuer.rootcert)}}


def skopeo_push(src: str, dest: str, *extra: str) -> None:
    """``skopeo copy src docker://dest`` (extra flags: creds, cert dir, --all)."""
    subprocess.run(["skopeo", "copy", "-q", *extra, src, f"docker://{dest}"], check=True,
                   capture_output=True, text=True, timeout=120)
