"""The one error root of hardbox.

Every failure a user can cause or fix is a ``HardboxError``: a one-line message that names
the operation and the file or entry, a hint saying what to do next, and the exit code the
CLI returns (docs/architecture.md, "Shared conventions"). The CLI catches only this root; anything else
is a bug and shows its traceback.
"""

from __future__ import annotations


class HardboxError(Exception):
    """Base of every user-facing error. ``exit_code`` follows the shared conventions."""

    exit_code = 2
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class UsageError(HardboxError):
    """The command line itself is wrong."""

    default_hint = "see --help"


class InputError(HardboxError):
    """An input the user named (archive, layout, profile, policy, database) is unusable."""


class ImageNotFound(HardboxError):
    default_hint = "list stored images with `hardbox image ls`, or import one with `hardbox image import PATH`"


class InvalidImage(InputError):
    """An image, manifest, config or layer failed validation."""


class InvalidReference(UsageError):
    """A string that should name an image does not parse as a reference."""


class StoreError(HardboxError):
    """The store itself is damaged or cannot be written."""


class ContainerError(HardboxError):
    """hardbox could not start the container (Docker's 125)."""

    exit_code = 125


class CommandNotExecutable(ContainerError):
    exit_code = 126


class CommandNotFound(ContainerError):
    exit_code = 127


class PolicyFailed(HardboxError):
    """A gate policy or --fail-on threshold was not met (exit 1)."""

    exit_code = 1
