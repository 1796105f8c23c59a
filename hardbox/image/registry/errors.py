"""Errors of the registry client: one line naming the registry, repository or digest; exit 2
(a registry reference the user named is unusable), per the shared conventions."""

from __future__ import annotations

from hardbox.errors import InputError, InvalidImage


class RegistryError(InputError):
    """The registry answered something hardbox cannot use (an error status, a bad document)."""

    default_hint = "check the reference and that the registry serves it"


class AuthError(RegistryError):
    """Credentials missing or refused, or an authentication loop."""

    default_hint = "log in with `hardbox login REGISTRY`, or check the repository name"


class BlobError(InvalidImage):
    """A manifest or blob whose bytes are not what its digest or size says (nothing is kept)."""

    default_hint = "the registry or something between it and you served damaged content"
