"""Registry references: ``docker://REF`` (skopeo's spelling) or a bare ``REF``, normalised as
Docker does, and the endpoint that serves them.

Short names are never guessed from a ``registries.conf`` search list: ``bbtest`` is
``docker.io/library/bbtest:latest``, always. docker.io is served by
``registry-1.docker.io``, or by ``$HARDBOX_REGISTRY_MIRROR`` (``host[:port]``) when set.
"""

from __future__ import annotations

import os

from hardbox.image import reference
from hardbox.image.reference import DEFAULT_DOMAIN, Reference

PREFIX = "docker://"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"


def parse(text: str) -> Reference:
    """``docker://quay.io/x/app:1`` or ``quay.io/x/app:1`` -> a normalised ``Reference``."""
    return reference.parse(text.removeprefix(PREFIX))


def endpoint(domain: str) -> str:
    """The ``host[:port]`` that serves ``domain``'s repositories."""
    if domain == DEFAULT_DOMAIN:
        return os.environ.get("HARDBOX_REGISTRY_MIRROR") or DOCKER_HUB_ENDPOINT
    return domain


def registry_key(text: str) -> str:
    """The name a registry goes by in auth files: ``docker.io`` for Docker Hub (whatever
    spelling), else ``host[:port]`` without a scheme or path."""
    host = text.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        return DEFAULT_DOMAIN
    return host


def auth_key(domain: str) -> str:
    """Whose credentials a request to ``domain``'s endpoint carries: the endpoint's own, so
    Docker Hub's credentials never go to ``$HARDBOX_REGISTRY_MIRROR``."""
    return registry_key(endpoint(domain))
